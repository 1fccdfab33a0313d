"""Dynamic waterfall: how much of an order goes to which venue, in what order.

Given the venues ranked by expected cost (bps, + = cost, cheapest first), each venue's fill
probability and a capacity (shares) = min(far-side displayed size at the venue, ``max_adv_share`` x ADV)
(dark pools display nothing: ADV share only; unknown caps = the whole order):

1. expected fillable size at venue v: ``f_v = p_fill_v * cap_v`` (shares);
2. take the shortest prefix of the ranking (at most ``max_venues``) whose ``sum f_v`` covers the order —
   a small order goes to the cheapest venue alone, a large one is split;
3. split the order over that prefix in proportion to ``f_v``, each leg capped at ``cap_v`` and rounded
   down to ``lot`` shares;
4. the remainder goes to the cheapest LIT venue (it sweeps the lit book; that is the cost model's
   fallback), appended as its own leg or added to that venue's leg.

Legs are returned in routing order (``seq`` 1 = first), by rank. Pure Python on short lists: ~2-4 µs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sor_pipeline.serving.types import Allocation


@dataclass(frozen=True)
class AllocationConfig:
    """``max_venues``: legs before the lit remainder; ``max_adv_share``: cap per venue as a share of ADV
    (0.01 = 1 % of ADV, shares); ``lot``: leg sizes are multiples of it (shares); ``use_displayed``: cap
    displaying venues by their displayed far-side size."""

    max_venues: int = 4
    max_adv_share: float = 0.01
    lot: int = 1
    use_displayed: bool = True


def venue_caps(venues: Sequence[str], qty: int, adv: float | None, displayed: Mapping[str, float] | None,
               config: AllocationConfig) -> list[float]:
    """Capacity per venue, shares: min(displayed far side, max_adv_share * ADV); ``qty`` when unknown."""
    adv_cap = config.max_adv_share * adv if (adv is not None and adv > 0) else math.inf
    out: list[float] = []
    for v in venues:
        cap = adv_cap
        if config.use_displayed and displayed is not None:
            d = displayed.get(v)
            if d is not None and d < cap:
                cap = float(d)
        out.append(float(qty) if cap == math.inf else max(cap, 0.0))
    return out


def allocate(qty: int, venues: Sequence[str], is_lit: Sequence[bool], p_fill: Sequence[float],
             cost_bps: Sequence[float], caps: Sequence[float], config: AllocationConfig) -> list[Allocation]:
    """Split ``qty`` shares over ``venues`` (already ranked, cheapest first); see the module docstring.
    ``p_fill`` in [0, 1] (use 1.0 when unknown), ``cost_bps`` per venue (NaN when unknown)."""
    n = len(venues)
    if qty <= 0 or n == 0:
        return []
    lot = max(int(config.lot), 1)
    fillable: list[float] = []
    total = 0.0
    k = 0
    while k < n and k < config.max_venues and total < qty:
        f = max(float(p_fill[k]), 0.0) * caps[k]
        fillable.append(f)
        total += f
        k += 1
    legs: dict[int, int] = {}
    if total > 0:
        for i in range(k):
            share = min(caps[i], qty * fillable[i] / total)
            q = math.floor(share / lot) * lot
            if q > 0:
                legs[i] = q
    split = set(legs)
    rest = qty - sum(legs.values())
    lit = next((i for i in range(n) if is_lit[i]), n - 1)
    if rest > 0:
        legs[lit] = legs.get(lit, 0) + rest
    out: list[Allocation] = []
    for seq, i in enumerate(sorted(legs), start=1):
        q = legs[i]
        reason = "remainder" if i not in split else ("split+remainder" if rest > 0 and i == lit else "split")
        out.append(Allocation(venue=venues[i], qty=q, seq=seq, expected_cost_bps=float(cost_bps[i]),
                              expected_fill_qty=float(p_fill[i]) * q, reason=reason))
    return out
