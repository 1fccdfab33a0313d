"""Multi-venue market and venue simulator: the project's ground truth and demo data."""

from sor_pipeline.simulation.config import Regime, SimConfig, VenueSpec, big_day_config, default_regimes, default_venues
from sor_pipeline.simulation.core import SimDay, default_policy, iter_day_groups, simulate_day, simulate_orders
from sor_pipeline.simulation.policy import MarketState, OraclePolicy, RoutingPolicy, StaticWaterfall

__all__ = [
    "MarketState",
    "OraclePolicy",
    "Regime",
    "RoutingPolicy",
    "SimConfig",
    "SimDay",
    "StaticWaterfall",
    "VenueSpec",
    "big_day_config",
    "default_policy",
    "default_regimes",
    "default_venues",
    "iter_day_groups",
    "simulate_day",
    "simulate_orders",
]
