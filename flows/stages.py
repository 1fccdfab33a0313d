"""Prefect tasks, one per nightly stage. Each wraps one plain function of ``sor_pipeline``.

Cache keys are the task's inputs (which carry fingerprints of the data it reads) plus its source,
with results persisted under ``$SOR_HOME/prefect``: re-running a night after a crash skips the
stages that already finished on the same data. The flow refreshes a stage's cache when its outputs
are missing from the lake. Only transient errors (I/O, timeouts, connections) are retried.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import task

from flows.common import STAGE_CACHE, current
from sor_pipeline.config.faults import maybe_inject
from sor_pipeline.config.settings import get_settings

_RETRIES = get_settings().orchestration.task_retries
_DELAY = get_settings().orchestration.task_retry_delay_s
TRANSIENT = (OSError, TimeoutError, ConnectionError)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except TRANSIENT:
        return True
    except BaseException:
        return False
    return False


def stage(name: str, *, cache: bool = True) -> Any:
    opts: dict[str, Any] = {"name": name, "retries": _RETRIES, "retry_delay_seconds": _DELAY,
                            "retry_condition_fn": _transient}
    if cache:
        opts.update(cache_policy=STAGE_CACHE, persist_result=True)
    return task(**opts)


@stage("features")
def features_task(day: date, fingerprint: str) -> dict[str, Any]:
    from sor_pipeline.features import write_features

    maybe_inject("features")
    settings, lake = current()
    return write_features(day, lake, settings).as_dict()


@stage("tca")
def tca_task(day: date, fingerprint: str) -> dict[str, Any]:
    from sor_pipeline.tca.run import run_tca, tca_summary

    maybe_inject("tca")
    _, lake = current()
    return tca_summary(run_tca(day, lake))


@stage("monitor", cache=False)
def monitor_task(day: date, reference: tuple[date, date] | None, run_url: str | None) -> dict[str, Any]:
    import sor_pipeline.monitoring as mon
    from sor_pipeline.promotion.champion import champion_scorer

    maybe_inject("monitor")
    settings, lake = current()
    report = mon.run_monitor(day, lake, settings, reference=reference, score=champion_scorer(settings, day),
                             run_url=run_url, hook=prefect_alert_event)
    return {**report.summary, "markdown": report.to_markdown()}


def prefect_alert_event(alert: dict[str, Any]) -> None:
    """Prefect's own notification path: each alert becomes a ``sor.monitor.alert`` event, which a
    Prefect automation (e.g. "send a notification when this event is seen") turns into a message."""
    from prefect.events import emit_event

    emit_event(event="sor.monitor.alert",
               resource={"prefect.resource.id": f"sor.monitor.{alert.get('check', 'unknown')}"},
               payload={k: v for k, v in alert.items() if isinstance(v, str | int | float | bool | list | None)})


@stage("sandbox")
def sandbox_task(day: date, challenger_version: str, champion_version: str | None,
                 ope_diff_bps: float | None = None) -> dict[str, Any]:
    from sor_pipeline.promotion.sandbox import run_sandbox

    maybe_inject("sandbox")
    settings, lake = current()
    return run_sandbox(day, settings, lake, challenger_version, champion_version, ope_diff_bps).as_dict()


@stage("promote", cache=False)
def promote_task(day: date, retrain: dict[str, Any], sandbox: dict[str, Any] | None) -> dict[str, bool]:
    from sor_pipeline.promotion.retrain import finalize_promotion

    maybe_inject("promote")
    settings, _ = current()
    return finalize_promotion(settings, day.isoformat(), retrain, sandbox)


@stage("report", cache=False)
def report_task(start: date, end: date) -> dict[str, Any]:
    from sor_pipeline.reporting import build_report

    maybe_inject("report")
    settings, lake = current()
    result = build_report(start, end, lake, settings)
    return {"html": str(result.html), "pdf": str(result.pdf), "rule605": str(result.rule605)}
