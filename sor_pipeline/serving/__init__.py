"""Live-router scoring library: champion loading, dynamic waterfall, microsecond latency.

- :class:`LiveRouter` (``from_registry(settings)``, ``route(order, snapshot)``, ``route_batch``, ``stats``);
- :class:`Order`, :class:`MarketSnapshot`, :class:`Route`, :class:`VenueScore`, :class:`Allocation`;

Costs in bps (+ = cost), quantities in shares, times UTC epoch ns.
"""

from sor_pipeline.features.online import snapshot_at
from sor_pipeline.serving.allocation import AllocationConfig, allocate
from sor_pipeline.serving.compiled import CompiledScorer, ReferenceScorer, Scores, make_scorer
from sor_pipeline.serving.live import LiveRouter
from sor_pipeline.serving.types import Allocation, MarketSnapshot, Order, Route, RouterStats, VenueScore, to_ns

__all__ = [
    "Allocation",
    "AllocationConfig",
    "CompiledScorer",
    "LiveRouter",
    "MarketSnapshot",
    "Order",
    "ReferenceScorer",
    "Route",
    "RouterStats",
    "Scores",
    "VenueScore",
    "allocate",
    "make_scorer",
    "snapshot_at",
    "to_ns",
]
