"""The fold step as it was written before it was made fast (issue 14), kept as the plain statement
of what `services.domain.control.apply_claim` must still compute, field for field: every state is
rebuilt from a fresh {actor: share} dict, every claim goes through the same redistribution, and a
holding is replaced exactly when its share changes. Property tests hold the fast fold against it."""

from __future__ import annotations

from services.domain.claims import Claim
from services.domain.control import Holding, PlaceControl, validate_claim
from services.domain.shares import WHOLE, proportional_part


def apply_claim(state: PlaceControl, claim: Claim) -> PlaceControl:
    validate_claim(claim)
    shares = {h.actor_id: h.share for h in state.holdings}
    new_shares = _redistribute(shares, claim)
    changed = new_shares != shares
    return PlaceControl(
        holdings=_holdings(state, new_shares, claim) if changed else state.holdings,
        last_key=claim.order_key,
        last_event_id=claim.event_id,
        changed_at=claim.occurred if changed else state.changed_at,
    )


def _redistribute(shares: dict[str, int], claim: Claim) -> dict[str, int]:
    actor, target, giver = claim.actor_id, claim.share, claim.from_actor_id
    current = shares.get(actor, 0)
    if target == WHOLE:
        return {actor: WHOLE}
    result = dict(shares)
    if target > current:
        unattributed = WHOLE - sum(result.values())
        needed = target - current
        if giver is not None and result.get(giver, 0) > 0:
            taken = min(needed, result[giver])
            result[giver] -= taken
            needed -= taken
        needed -= min(needed, unattributed)
        if needed > 0:
            others = {a: s for a, s in result.items() if a != actor and s > 0}
            total = sum(others.values())
            for other, share in others.items():
                result[other] = max(0, share - proportional_part(needed, share, total))
    elif target < current and giver is not None:
        result[giver] = result.get(giver, 0) + current - target
    result[actor] = target
    excess = sum(result.values()) - WHOLE
    if excess > 0:
        others_ = [(s, a) for a, s in result.items() if a != actor and s > 0]
        _, largest = min(others_, key=lambda sa: (-sa[0], sa[1]))
        result[largest] -= excess
    return {a: s for a, s in result.items() if s > 0}


def _holdings(state: PlaceControl, shares: dict[str, int], claim: Claim) -> tuple[Holding, ...]:
    before = {h.actor_id: h for h in state.holdings}
    holdings = []
    for actor, share in sorted(shares.items(), key=lambda item: (-item[1], item[0])):
        previous = before.get(actor)
        if previous is None or previous.share != share:
            previous = Holding(actor, share, claim.occurred, claim.event_id, claim.report_id)
        holdings.append(previous)
    return tuple(holdings)
