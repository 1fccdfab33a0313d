"""Live-router outputs: VenueScore, Route, Allocation, RouterStats (inputs from features.request).

Units and signs (docs/DESIGN.md): quantities in shares (int), prices in the instrument currency, times as
UTC epoch nanoseconds (int), costs in bps with + = cost. ``s`` = +1 for BUY, -1 for SELL.
Plain slotted dataclasses: building one costs well under a microsecond, no polars/pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sor_pipeline.features.request import EPOCH, NAN, NS_PER_S, MarketSnapshot, Order, to_ns

__all__ = ["EPOCH", "NAN", "NS_PER_S", "Allocation", "MarketSnapshot", "Order", "Route", "RouterStats", "VenueScore",
           "to_ns"]


@dataclass(slots=True)
class VenueScore:
    """One venue's scores for one order: fill probability in [0, 1], expected slippage given a fill
    (bps, + = cost, fees included) and expected cost = p*slippage + (1-p)*fallback (bps, + = cost).
    NaN scores when the route is a static fallback. ``rank`` 1 = route first."""

    venue: str
    venue_type: str
    rank: int
    p_fill: float
    slippage_bps: float
    expected_cost_bps: float


@dataclass(slots=True)
class Allocation:
    """One leg of the dynamic waterfall: send ``qty`` shares to ``venue``, in ``seq`` order (1 = first).
    ``expected_fill_qty`` = p_fill * qty (shares); ``reason`` says why the leg exists."""

    venue: str
    qty: int
    seq: int
    expected_cost_bps: float
    expected_fill_qty: float
    reason: str = "split"


@dataclass(slots=True)
class Route:
    """The router's answer for one order: the venues ranked (cheapest expected cost first) and the
    allocation legs (the dynamic waterfall).

    ``fallback`` is True when the static waterfall was used (no model, or a non-finite score);
    ``policy`` names what routed, e.g. ``model:3`` or ``static``; ``fallback_bps`` is the lit-sweep
    cost (min LIT slippage, bps, + = cost) used for unfilled remainders; ``reason`` says why on a
    fallback. Per-venue scores are kept as flat lists in rank order (``p_fill``, ``slippage_bps``,
    ``expected_cost_bps``; NaN on a fallback); :attr:`venues` builds VenueScore objects on demand.
    ``propensity`` / ``explored``: see :mod:`sor_pipeline.serving.exploration`."""

    order: Order
    ranked_venues: list[str]
    allocations: list[Allocation]
    policy: str
    fallback: bool = False
    fallback_bps: float = NAN
    reason: str = ""
    p_fill: list[float] = field(default_factory=list)
    slippage_bps: list[float] = field(default_factory=list)
    expected_cost_bps: list[float] = field(default_factory=list)
    venue_types: Mapping[str, str] | None = None
    #: Probability with which the rank-1 venue was chosen (1.0 without exploration) and whether it
    #: differs from the ranking's own first venue: the decision record the execution log carries.
    propensity: float = 1.0
    explored: bool = False

    @property
    def venues(self) -> list[VenueScore]:
        """VenueScore per venue, rank 1 first."""
        types = self.venue_types or {}
        n = len(self.ranked_venues)
        p = self.p_fill or [NAN] * n
        s = self.slippage_bps or [NAN] * n
        c = self.expected_cost_bps or [NAN] * n
        return [VenueScore(v, types.get(v, ""), k + 1, p[k], s[k], c[k]) for k, v in enumerate(self.ranked_venues)]

    @property
    def allocated_qty(self) -> int:
        return sum(a.qty for a in self.allocations)


@dataclass
class RouterStats:
    """Counters on a router object (monotonic, per process). ``fallbacks``: routes served by the static
    waterfall; ``load_failures``: model loads that failed; ``nonfinite``: routes whose scores were NaN/inf;
    ``errors``: unexpected exceptions caught in the order path; ``routes``: all routes served."""

    routes: int = 0
    fallbacks: int = 0
    load_failures: int = 0
    nonfinite: int = 0
    errors: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
