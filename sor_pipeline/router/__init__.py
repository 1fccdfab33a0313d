"""Live-router scoring library: champion loading, dynamic waterfall, microsecond latency.

- :class:`LiveRouter` (``from_registry(settings)``, ``route(order, snapshot)``, ``route_batch``, ``stats``);
- :class:`Order`, :class:`MarketSnapshot`, :class:`Route`, :class:`VenueScore`, :class:`Allocation`;
- :class:`ModelPolicy` / :func:`load_policy`: the same scoring as a simulator RoutingPolicy.

Costs in bps (+ = cost), quantities in shares, times UTC epoch ns.
"""

from sor_pipeline.router.allocation import AllocationConfig, allocate
from sor_pipeline.router.compiled import CompiledScorer, ReferenceScorer, Scores, make_scorer
from sor_pipeline.router.features import snapshot_at
from sor_pipeline.router.live import LiveRouter, model_uri
from sor_pipeline.router.policy import ModelPolicy, load_policy
from sor_pipeline.router.types import Allocation, MarketSnapshot, Order, Route, RouterStats, VenueScore, to_ns

__all__ = [
    "Allocation",
    "AllocationConfig",
    "CompiledScorer",
    "LiveRouter",
    "MarketSnapshot",
    "ModelPolicy",
    "Order",
    "ReferenceScorer",
    "Route",
    "RouterStats",
    "Scores",
    "VenueScore",
    "allocate",
    "load_policy",
    "make_scorer",
    "model_uri",
    "snapshot_at",
    "to_ns",
]
