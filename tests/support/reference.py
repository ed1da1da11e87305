"""A direct, deliberately plain transcription of the contract's control algebra (§3), in Decimal
percentages, for property tests to hold the production fold against."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def r2(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def apply(holders: dict[str, Decimal], actor: str, share: Decimal, giver: str | None) -> dict[str, Decimal]:
    """Contract §3: a claim (actor A, share s, from B) applied to {actor: share}."""
    h = dict(holders)
    a = h.get(actor, Decimal(0))
    if share == HUNDRED:  # "s = 100: A holds all of it"
        return {actor: HUNDRED}
    if share > a:  # "A's share rises by d"
        d = share - a
        rest = HUNDRED - sum(h.values())
        if giver is not None and h.get(giver, 0) > 0:  # "taken from B first"
            t = min(d, h[giver])
            h[giver] -= t
            d -= t
        d -= min(d, rest)  # "then from the unattributed rest"
        if d > 0:  # "then from the other holders in proportion to their shares"
            others = {k: v for k, v in h.items() if k != actor and v > 0}
            total = sum(others.values())
            for k, v in others.items():
                h[k] = max(Decimal(0), v - r2(d * v / total))
    elif share < a and giver is not None:  # "A's share falls by d: d goes to B if given"
        h[giver] = h.get(giver, Decimal(0)) + (a - share)
    h[actor] = share
    excess = sum(h.values()) - HUNDRED
    if excess > 0:  # "the excess comes off the largest holder other than A"
        largest = min((k for k in h if k != actor and h[k] > 0), key=lambda k: (-h[k], k))
        h[largest] -= excess
    return {k: v for k, v in h.items() if v > 0}  # "a holder at 0 is dropped"
