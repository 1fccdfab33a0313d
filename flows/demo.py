"""The closed-loop demo: simulate a day routed by the current champion (static waterfall until there
is one), run the nightly on it, let the new champion route the next day, and so on."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from typing import Any

from prefect import flow

from flows.common import current
from flows.nightly import nightly_flow
from sor_pipeline.config.calendar import next_trading_days
from sor_pipeline.config.settings import get_settings
from sor_pipeline.simulation.days import exec_format_for, sim_config
from sor_pipeline.simulation.demo_metrics import captured_gap_share, day_costs, plot_day_costs

Progress = Callable[[int, int, dict[str, Any]], None]


@flow(name="sor-demo", log_prints=True)
def demo_flow(start: date, days: int, seed: int = 7, symbols: int = 5,
              progress: Progress | None = None) -> dict[str, Any]:
    """Closed loop over ``days`` trading days from ``start``; returns the docs/DESIGN.md ``demo`` summary."""
    from sor_pipeline.simulation.core import simulate_day
    from sor_pipeline.simulation.drop import write_drop
    from sor_pipeline.simulation.model_policy import load_policy

    # The demo grades its backtests with the simulator's truth: an explicit choice of this flow
    # (Settings.backtest.grade_with_simulator_truth), never inferred from what the lake holds.
    os.environ.setdefault("SOR_BACKTEST_GRADE_WITH_SIMULATOR_TRUTH", "true")
    get_settings.cache_clear()
    settings, lake = current()
    config = sim_config(seed, symbols)
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
        row = {"date": day.isoformat(), **costs, "router_policy": policy.name, "promoted": night["promoted"],
               "champion_version": night["champion_version"], "verdict": night["verdict"],
               "p_value": night["p_value"], "cost_diff_bps": night["cost_diff_bps"]}
        out.append(row)
        nights.append(night)
        if progress:
            progress(i + 1, len(dates), row)
    from sor_pipeline.reporting import build_report

    report = build_report(dates[0], dates[-1], lake, settings)
    plot = plot_day_costs(out, settings.reports_dir / f"demo_costs_{dates[0]}_{dates[-1]}.png")
    return {
        "days": out,
        "captured_gap_share": captured_gap_share(out),
        "captured_gap_share_model_days": captured_gap_share(out, model_days_only=True),
        "champion_version": nights[-1]["champion_version"] if nights else None,
        "report_html": str(report.html),
        "report_pdf": str(report.pdf),
        "cost_plot": str(plot),
        "raw_dir": str(raw),
        "sor_home": str(settings.home),
        "tracking_uri": settings.resolved_tracking_uri,
        "mlflow_ui": "sor-pipeline ui  (then open http://127.0.0.1:5000)",
    }
