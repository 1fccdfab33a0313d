"""The nightly flow for one trading date, and the backfill over a range.

ingest -> features -> tca -> monitor (an error-level breach stops here) -> retrain (train, walk-forward
backtest, gate; the challenger is registered but not promoted) -> sandbox (the challenger, loaded as
the live router loads it, routes a simulated day) -> report -> the night's run in MLflow (the decision
stated) -> promote (the alias moves last, only if gate and sandbox pass), and a Prefect artifact
summarising the night. A failing stage raises :class:`StageFailed` naming the stage and the date;
nothing after it runs, so nothing is promoted, and a re-run resumes from the failed stage (finished
stages are cached on their data). The whole night holds the date's run lock
(:mod:`sor_pipeline.storage.locks`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.common import current, lake_cached, lake_fingerprint
from flows.ingest import ingest_fingerprint, ingest_task
from flows.retrain import run_retrain_flow
from flows.stages import (
    features_task,
    monitor_task,
    promote_task,
    report_task,
    sandbox_task,
    tca_task,
)
from sor_pipeline.config.calendar import is_trading_day, market_today
from sor_pipeline.config.faults import StageFailed, injected_stages, maybe_inject
from sor_pipeline.config.settings import Settings
from sor_pipeline.promotion.champion import champion_at_start, champion_reference
from sor_pipeline.promotion.data_checks import data_checks_passed
from sor_pipeline.promotion.retrain import plan_promotion
from sor_pipeline.reporting.nightly_summary import night_markdown, night_summary
from sor_pipeline.reporting.render import mark_not_applied
from sor_pipeline.storage.lake import Lake
from sor_pipeline.storage.locks import date_lock

T = TypeVar("T")
FEATURE_INPUTS = ["child_orders", "parent_orders", "fills", "nbbo", "depth", "trades", "venues"]
TCA_INPUTS = ["child_orders", "parent_orders", "fills", "nbbo", "trades"]


def _run(stage: str, day: date, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except StageFailed:
        raise
    except Exception as exc:
        raise StageFailed(stage, day, exc) from exc


def _registry(fn: Callable[[], T]) -> T:
    maybe_inject("registry")
    return fn()


def features_fingerprint(lake: Lake, day: date) -> str:
    """What the features of ``day`` read: the day's primary tables and the earlier days' features."""
    history = [d for d in lake.dates("features") if d < day]
    return lake_fingerprint(lake, FEATURE_INPUTS, [day]) + lake_fingerprint(lake, ["features"], history)


def tca_fingerprint(lake: Lake, day: date) -> str:
    """What the TCA of ``day`` reads: the day's primary tables."""
    return lake_fingerprint(lake, TCA_INPUTS, [day])


@flow(name="sor-nightly", log_prints=True)
def nightly_flow(day: date | None = None, raw_dir: str | None = None,
                 prepared: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the whole night for trading date ``day`` (default: today in the market's time zone, as the
    schedule calls it after the close) from the drop under ``raw_dir`` (default ``$SOR_HOME/raw``),
    holding the date's run lock (a second night of the same date raises ``AlreadyRunning``).
    ``prepared``: results of the night's ``ingest``, ``features`` and ``tca`` stages that a Dask backfill
    already ran (:mod:`flows.backfill`); those stages are not run again. Returns the JSON summary
    (docs/DESIGN.md ``nightly`` fields)."""
    injected_stages()  # refuse a misspelt SOR_INJECT_FAULT before anything runs
    settings, lake = current()
    if day is None:
        day = market_today(settings.market.timezone)
        if not is_trading_day(day, settings.market.holidays, settings.market.calendar):
            return {"date": day.isoformat(), "skipped": "not a trading day", "promoted": False}
    with date_lock(settings, day, "nightly"):
        return _night(settings, lake, day, Path(raw_dir) if raw_dir else settings.raw_root, prepared or {})


def _night(settings: Settings, lake: Lake, day: date, raw: Path, prepared: dict[str, Any]) -> dict[str, Any]:
    registry_before = _run("registry", day, lambda: _registry(lambda: champion_reference(settings, day)))

    ingest = prepared.get("ingest") or _run("ingest", day, lambda: lake_cached(ingest_task, lake, day)(
        day, str(raw), ingest_fingerprint(day, raw)))
    features = prepared.get("features") or _run("features", day, lambda: lake_cached(features_task, lake, day)(
        day, features_fingerprint(lake, day)))
    tca = prepared.get("tca") or _run("tca", day, lambda: lake_cached(tca_task, lake, day)(
        day, tca_fingerprint(lake, day)))
    from prefect.runtime import flow_run

    monitor = _run("monitor", day, lambda: monitor_task(day, registry_before, flow_run.ui_url))
    if monitor.get("must_stop"):
        errors = [f"{b['check']} ({', '.join(b.get('venues') or []) or b.get('message', '')})"
                  for b in monitor.get("breached_checks", []) if b.get("severity") == "error"]
        raise StageFailed("monitor", day, RuntimeError(
            f"error-level checks failed: {'; '.join(errors) or 'see monitoring'}; training skipped, nothing promoted"))

    from sor_pipeline.storage import registry

    champion_before = champion_at_start(settings, day)
    window = [d for d in lake.dates("features") if d <= day]
    data_checks_ok = data_checks_passed(ingest, monitor)
    retrain = _run("retrain", day, lambda: run_retrain_flow(
        day, lake_fingerprint(lake, ["features"], window) + f":{champion_before}", data_checks_ok))
    sandbox: dict[str, Any] | None = None
    challenger = retrain["challenger_version"]
    if challenger and retrain["gate_passed"] and settings.sandbox.enabled:
        diff = retrain.get("cost_diff_bps")
        sandbox = _run("sandbox", day, lambda: sandbox_task(day, challenger, champion_before,
                                                            diff if diff == diff else None))
    # the decision is stated (report, summary, the night's run) before the alias moves; the move is last
    plan = (_run("registry", day, lambda: plan_promotion(settings, retrain, sandbox))
            if challenger else {"promoted": False, "demoted": False})
    current_champion = _run("registry", day, lambda: registry.champion_version(settings))
    routes_tomorrow = challenger if plan["promoted"] else None if plan["demoted"] else current_champion
    report = _run("report", day, lambda: report_task(day, day))
    summary = night_summary(day, ingest=ingest, features=features, tca=tca, monitor=monitor, retrain=retrain,
                            sandbox=sandbox, promoted=plan["promoted"], champion_version=routes_tomorrow,
                            report=report)
    summary.update(demoted=plan["demoted"], action=retrain.get("action", "keep"),
                   data_checks_ok=data_checks_ok, routes_tomorrow=routes_tomorrow or "static")
    summary["run_id"] = _run("registry", day, lambda: _registry(lambda: registry.log_night(
        settings, day.isoformat(), summary["run_id"], monitor=monitor, summary=summary)))
    if challenger:
        try:
            _run("promote", day, lambda: promote_task(day, retrain, sandbox))
        except StageFailed as exc:
            registry.mark_not_applied(settings, summary["run_id"])
            if report.get("html") and report.get("pdf"):
                with contextlib.suppress(Exception):  # the failure being reported matters more than the stamp
                    mark_not_applied(Path(report["html"]), Path(report["pdf"]), day, str(exc.__cause__ or exc))
            raise
    create_markdown_artifact(night_markdown(summary), key=f"nightly-{day.isoformat()}",
                             description=f"sor-pipeline nightly {day.isoformat()}")
    return summary


def backfill_flow(start: date, end: date, raw_dir: str | None = None) -> list[dict[str, Any]]:
    """The nightly over every trading date in [start, end]: serial, or fanned out on Dask with
    ``SOR_TASK_RUNNER=dask`` (:func:`flows.backfill.backfill_flow`)."""
    from flows.backfill import backfill_flow as flow_

    return flow_(start, end, raw_dir)
