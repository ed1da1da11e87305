"""The control algebra: how a claim changes who holds a place, and the fold over a history.

Control of a place is a set of holders {actor: share} summing to at most 100 %; the rest is
unattributed. `fold_place` is the one function that turns a place's effective claims into its
state: ingest validation, the projector, replay and time travel all call it (or `apply_claim`,
its step), so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal, NamedTuple

from services.domain.claims import Claim
from services.domain.errors import InvalidClaim
from services.domain.occurred import OccurredAt
from services.domain.shares import WHOLE, proportional_part

Status = Literal["controlled", "contested", "partial", "unknown"]


# Holding and PlaceControl are named tuples rather than frozen dataclasses: as immutable, and
# built five times faster (a frozen dataclass sets each field through object.__setattr__), which
# counts when a catch-up builds one or more of each for every claim it folds.
class Holding(NamedTuple):
    """One actor's share of a place, and the event that last changed it."""

    actor_id: str
    share: int  # hundredths
    since: OccurredAt
    event_id: str
    report_id: str | None


class PlaceControl(NamedTuple):
    """A place's control after folding its effective claims in order."""

    holdings: tuple[Holding, ...] = ()  # share descending, then actor id
    last_key: tuple[datetime, int] | None = None  # order key of the last claim folded in
    last_event_id: str | None = None
    changed_at: OccurredAt | None = None  # occurred_at of the last claim that changed a share

    @property
    def status(self) -> Status:
        if not self.holdings:
            return "unknown"
        if len(self.holdings) > 1:
            return "contested"
        return "controlled" if self.holdings[0].share == WHOLE else "partial"

    @property
    def challenger_share(self) -> int:
        """The second-largest share: how contested a contested place is."""
        return self.holdings[1].share if len(self.holdings) > 1 else 0

    @property
    def sources(self) -> list[str]:
        """Report ids behind the current control (the reports that set each current share)."""
        seen: dict[str, None] = {}
        for h in self.holdings:
            if h.report_id is not None:
                seen.setdefault(h.report_id)
        return list(seen)

    def share_of(self, actor_id: str) -> int:
        return next((h.share for h in self.holdings if h.actor_id == actor_id), 0)


EMPTY = PlaceControl()


def validate_claim(claim: Claim) -> None:
    """Raise InvalidClaim for a claim the algebra cannot apply to any state."""
    validate_claim_fields(claim.actor_id, claim.share, claim.from_actor_id, claim.supporting_actor_ids)


def validate_claim_fields(
    actor_id: str, share: int, from_actor_id: str | None, supporting_actor_ids: Sequence[str]
) -> None:
    """`validate_claim` on the fields it looks at, for a caller that has no Claim to hand (ingest
    checks every claim of a report at the door: building a Claim for each only to check it costs
    more than the check)."""
    if not 0 <= share <= WHOLE:
        raise InvalidClaim(f"share {share / 100} is outside 0-100")
    if from_actor_id is not None and from_actor_id == actor_id:
        raise InvalidClaim("an actor cannot take a place from itself (actor equals from_actor)")
    if actor_id in supporting_actor_ids:
        raise InvalidClaim("an actor cannot support its own claim")


def apply_claim(state: PlaceControl, claim: Claim) -> PlaceControl:
    """The state after `claim`, applied on top of `state` (claims must arrive in order_key order)."""
    validate_claim(claim)
    holdings = _holdings_after(state.holdings, claim)
    changed = holdings is not state.holdings
    # Positional (in field order): a named tuple is built faster so, and this runs for every claim.
    return PlaceControl(
        holdings,
        claim.order_key,  # last_key
        claim.event_id,  # last_event_id
        claim.occurred if changed else state.changed_at,  # changed_at
    )


def fold_place(claims: Iterable[Claim]) -> PlaceControl:
    """A place's control from its effective claims, whatever order they are given in."""
    state = EMPTY
    for claim in sorted(claims, key=lambda c: c.order_key):
        state = apply_claim(state, claim)
    return state


def _holdings_after(holdings: tuple[Holding, ...], claim: Claim) -> tuple[Holding, ...]:
    """The holdings after `claim`: `holdings` itself when no share changes (every holding then
    stays as it was, in its order), else each holder whose share changed with a new Holding."""
    if claim.share == WHOLE:
        return _whole(holdings, claim)
    shares = {h.actor_id: h.share for h in holdings}
    new_shares = _redistribute(shares, claim)
    if new_shares == shares:
        return holdings
    return _holdings(holdings, new_shares, claim)


def _whole(holdings: tuple[Holding, ...], claim: Claim) -> tuple[Holding, ...]:
    """A claim to the whole place (a third of all claims): the actor alone, at 100 %. Its own
    holding is kept if it already held 100 %; no shares to redistribute, no dict to build."""
    if len(holdings) == 1 and holdings[0].actor_id == claim.actor_id and holdings[0].share == WHOLE:
        return holdings  # it holds all of it already (a holder of 100 % is the only holder)
    return (Holding(claim.actor_id, WHOLE, claim.occurred, claim.event_id, claim.report_id),)


def _redistribute(shares: dict[str, int], claim: Claim) -> dict[str, int]:
    """The shares after a claim to less than the whole place."""
    actor, target, giver = claim.actor_id, claim.share, claim.from_actor_id
    current = shares.get(actor, 0)
    result = dict(shares)
    if target > current:
        _take(result, actor, giver, target - current)
    elif target < current and giver is not None:
        result[giver] = result.get(giver, 0) + current - target
    result[actor] = target
    _trim_excess(result, actor)
    return {a: s for a, s in result.items() if s > 0}


def _take(shares: dict[str, int], actor: str, giver: str | None, needed: int) -> None:
    """Take `needed` for `actor`: from the giver first, then the unattributed rest, then the
    other holders in proportion to their shares."""
    unattributed = WHOLE - sum(shares.values())
    if giver is not None and shares.get(giver, 0) > 0:
        taken = min(needed, shares[giver])
        shares[giver] -= taken
        needed -= taken
    needed -= min(needed, unattributed)
    if needed <= 0:
        return
    others = {a: s for a, s in shares.items() if a != actor and s > 0}
    total = sum(others.values())
    for other, share in others.items():
        shares[other] = max(0, share - proportional_part(needed, share, total))


def _trim_excess(shares: dict[str, int], actor: str) -> None:
    """If rounding lifted the sum above 100 %, take the excess off the largest other holder."""
    excess = sum(shares.values()) - WHOLE
    if excess <= 0:
        return
    others = [(s, a) for a, s in shares.items() if a != actor and s > 0]
    # Largest share first; ties go to the alphabetically first actor id, so the fold is
    # deterministic whatever order the dict was built in.
    _, largest = min(others, key=lambda sa: (-sa[0], sa[1]))
    shares[largest] -= excess


def _holdings(holdings: tuple[Holding, ...], shares: dict[str, int], claim: Claim) -> tuple[Holding, ...]:
    before = {h.actor_id: h for h in holdings}
    after = []
    for actor, share in sorted(shares.items(), key=_largest_first):
        previous = before.get(actor)
        if previous is None or previous.share != share:
            previous = Holding(actor, share, claim.occurred, claim.event_id, claim.report_id)
        after.append(previous)
    return tuple(after)


def _largest_first(item: tuple[str, int]) -> tuple[int, str]:
    actor, share = item
    return -share, actor
