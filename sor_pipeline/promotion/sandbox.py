"""The sandbox stage: before a promotion is final, the challenger — loaded through the router library
exactly as the live router loads it (a pinned registry version, compiled scorer) — routes a simulated
day, and so does the current champion (or the static waterfall on the first night) on the very same
market and orders. The challenger passes if it never fell back to the static waterfall and its mean
expected cost per routing decision (the simulator's oracle, bps, + = cost) is no more than the
champion's plus ``Settings.sandbox.tolerance_bps``.

The simulated day uses the simulator's default venues and the regimes in force at the lake's current
history length, with exploration off; the market is generated from a seed derived from the date, so a
re-run of the same night gives the same verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from sor_pipeline.config.calendar import next_trading_days
from sor_pipeline.config.settings import Settings
from sor_pipeline.simulation import SimConfig
from sor_pipeline.simulation.core import simulate_day
from sor_pipeline.simulation.demo_metrics import day_costs
from sor_pipeline.simulation.policy import StaticWaterfall
from sor_pipeline.storage.lake import Lake


@dataclass
class SandboxResult:
    passed: bool
    sandbox_date: str
    challenger_version: str
    champion_version: str | None
    challenger_cost_bps: float
    champion_cost_bps: float
    static_cost_bps: float
    oracle_cost_bps: float
    challenger_fallbacks: int
    decisions: int
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_sandbox(day: date, settings: Settings, lake: Lake, challenger_version: str,
                champion_version: str | None) -> SandboxResult:
    """Route the simulated next trading day with challenger and champion; see the module docstring."""
    from sor_pipeline.simulation.model_policy import ModelPolicy, load_policy

    sandbox_day = next_trading_days(date.fromordinal(day.toordinal() + 1), 1, settings.market.holidays)[0]
    seed = settings.seed * settings.sandbox.seed_stride + day.toordinal()
    config = replace(SimConfig(seed=seed, n_symbols=settings.sandbox.symbols), epsilon=0.0, explore=False)
    day_index = len([d for d in lake.dates("features") if d <= day])
    challenger = load_policy(settings, challenger_version)
    champion = load_policy(settings, champion_version) if champion_version else \
        StaticWaterfall(list(settings.router.static_waterfall))
    reasons: list[str] = []
    if not isinstance(challenger, ModelPolicy) or challenger.name.endswith("/fallback"):
        reasons.append(f"challenger v{challenger_version} could not be loaded by the router library")
    sim_c = simulate_day(config, sandbox_day, day_index, challenger, history=lake)
    sim_k = simulate_day(config, sandbox_day, day_index, champion, history=lake)
    c = day_costs(sim_c.tables["child_orders"], sim_c.oracle, settings.router.static_waterfall)
    k = day_costs(sim_k.tables["child_orders"], sim_k.oracle, settings.router.static_waterfall)
    fallbacks = int(getattr(challenger, "fallbacks", 0))
    if fallbacks:
        reasons.append(f"challenger fell back to the static waterfall on {fallbacks} requests")
    if not c["ml"] <= k["ml"] + settings.sandbox.tolerance_bps:
        reasons.append(f"challenger costs {c['ml']:.3f} bps > champion {k['ml']:.3f} bps "
                       f"(+{settings.sandbox.tolerance_bps} tolerance) on the simulated day")
    return SandboxResult(
        passed=not reasons, sandbox_date=sandbox_day.isoformat(), challenger_version=challenger_version,
        champion_version=champion_version, challenger_cost_bps=c["ml"], champion_cost_bps=k["ml"],
        static_cost_bps=c["static"], oracle_cost_bps=c["oracle"], challenger_fallbacks=fallbacks,
        decisions=int(c["decisions"]), reasons=reasons)
