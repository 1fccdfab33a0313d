"""The closed-loop demo: simulate a day routed by the current champion (static waterfall until there
is one, or after a demotion), run the nightly on it, let what the night chose route the next day, and
so on. The nightly decides on logged data only; the simulator's truth grades each day afterwards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow

from flows.common import current
from flows.nightly import nightly_flow
from sor_pipeline.config.calendar import next_trading_days
from sor_pipeline.promotion.retrain import min_history_days
from sor_pipeline.simulation.days import exec_format_for, sim_config
from sor_pipeline.simulation.demo_metrics import (
    captured_gap_share,
    day_costs,
    nights_to_recover,
    plot_day_costs,
)
from sor_pipeline.simulation.scenarios import Scenario, load_scenario

Progress = Callable[[int, int, dict[str, Any]], None]


@flow(name="sor-demo", log_prints=True)
def demo_flow(start: date, days: int, seed: int | None = None, symbols: int | None = None,
              progress: Progress | None = None, scenario: str | None = None) -> dict[str, Any]:
    """Closed loop over ``days`` trading days from ``start``; returns the docs/DESIGN.md ``demo`` summary.
    ``scenario``: a scenario TOML file (default: the default story); ``seed``/``symbols`` override it."""
    from sor_pipeline.simulation.core import simulate_day
    from sor_pipeline.simulation.drop import write_drop
    from sor_pipeline.simulation.model_policy import load_policy

    settings, lake = current()
    story: Scenario | None = load_scenario(Path(scenario)) if scenario else None
    seed = seed if seed is not None else (story.seed if story and story.seed is not None else 7)
    symbols = symbols if symbols is not None else (story.symbols if story and story.symbols is not None else 5)
    config = sim_config(seed, symbols)
    if story is not None:
        config = story.apply(config)
    ex = settings.router  # the simulated logging router explores exactly as the live router is configured
    config = replace(config, explore=ex.explore, explore_temperature_bps=ex.explore_temperature_bps,
                     explore_floor=ex.explore_floor, epsilon=ex.explore_static_epsilon,
                     explore_static_share=ex.explore_static_share, static_waterfall=tuple(ex.static_waterfall))
    shifts = story.shift_days() if story else sorted({r.start_day for r in config.regimes})
    raw = settings.raw_root
    out: list[dict[str, Any]] = []
    nights: list[dict[str, Any]] = []
    dates = next_trading_days(start, days, settings.market.holidays)
    for i, day in enumerate(dates):
        policy = load_policy(settings)
        simday = simulate_day(config, day, i, policy, history=lake)
        write_drop(simday, raw / day.isoformat(), exec_format_for("rotate", i), "parquet", config)
        night = nightly_flow(day, str(raw))
        costs = day_costs(simday.tables["child_orders"], simday.oracle, settings.router.static_waterfall)
        guard = getattr(getattr(policy, "router", None), "guard", None)  # a model routed: what its guard charged
        row = {"date": day.isoformat(), **costs, "router_policy": policy.name,
               "guard_charges_bps": {v: round(c, 3) for v, c in guard.penalties().items()} if guard else {},
               "promoted": night["promoted"],
               "demoted": bool(night.get("demoted")), "action": night.get("action", "keep"),
               "cost_source": night.get("cost_source") or "none",
               "champion_version": night["champion_version"], "verdict": night["verdict"],
               "p_value": night["p_value"], "cost_diff_bps": night["cost_diff_bps"]}
        out.append(row)
        nights.append(night)
        if progress:
            progress(i + 1, len(dates), row)
    from sor_pipeline.reporting import build_report

    warmup = min(min_history_days(settings), len(out))
    report = build_report(dates[0], dates[-1], lake, settings)
    plot = plot_day_costs(out, settings.reports_dir / f"demo_costs_{dates[0]}_{dates[-1]}.png")
    return {
        "scenario": story.name if story else "default",
        "days": out,
        "warmup_days": warmup,
        "captured_gap_share": captured_gap_share(out[warmup:]),
        "captured_gap_share_model_days": captured_gap_share(out, model_days_only=True),
        "nights_to_recover": nights_to_recover(out, [s for s in shifts if s < len(out)]),
        "alias_moves": sum(1 for d in out if d["promoted"] or d["demoted"]),
        "champion_version": nights[-1]["champion_version"] if nights else None,
        "report_html": str(report.html),
        "report_pdf": str(report.pdf),
        "cost_plot": str(plot),
        "raw_dir": str(raw),
        "sor_home": str(settings.home),
        "tracking_uri": settings.resolved_tracking_uri,
        "mlflow_ui": "sor-pipeline ui  (then open http://127.0.0.1:5000)",
    }
