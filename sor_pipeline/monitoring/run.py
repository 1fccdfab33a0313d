"""``run_monitor``: every check for one date -> the ``monitoring`` partition, alerts and a summary.

The nightly calls :func:`run_monitor` after ingest (and features) and before training, and stops when
``report.must_stop`` (an error-level breach; :func:`has_errors`). Logging the summary to MLflow / a
Prefect artifact is the caller's job: ``report.summary`` is JSON-friendly, ``report.to_markdown()``
renders it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from sor_pipeline.config.monitor import SEVERITIES, MonitorSettings
from sor_pipeline.config.settings import Settings
from sor_pipeline.learning.lit_fallback import lit_fallback
from sor_pipeline.monitoring.alerts import AlertHook, build_alerts, send_alerts
from sor_pipeline.monitoring.drift import drift_checks
from sor_pipeline.monitoring.feed import feed_checks
from sor_pipeline.monitoring.model_health import ScoreFn, model_rows
from sor_pipeline.monitoring.schema import result, results_frame
from sor_pipeline.storage.lake import Lake

log = logging.getLogger(__name__)
DATASET = "monitoring"


def _guard_value(fn: Callable[[], pl.DataFrame | None]) -> pl.DataFrame | None:
    """``fn()``, or None (logged) when it fails: an optional input of a check must not stop the monitor."""
    try:
        return fn()
    except Exception:
        log.exception("monitor: optional input failed; the check uses its default")
        return None


def has_errors(results: pl.DataFrame) -> bool:
    """True when any check breached at severity ``error``: the nightly must stop before training."""
    if results.height == 0:
        return False
    return bool(results.filter(~pl.col("passed") & (pl.col("severity") == "error")).height)


def apply_overrides(results: pl.DataFrame, overrides: dict[str, str]) -> pl.DataFrame:
    """Set the severity of breached rows of the checks named in ``overrides`` (an ``info`` override
    turns the breach into a pass)."""
    for check, sev in overrides.items():
        hit = (pl.col("check") == check) & ~pl.col("passed")
        results = results.with_columns(
            pl.when(hit).then(pl.lit(sev)).otherwise(pl.col("severity")).alias("severity"),
            pl.when(hit).then(pl.lit(sev == "info")).otherwise(pl.col("passed")).alias("passed"),
        )
    return results


@dataclass
class MonitorReport:
    """Results of one monitor run: the tidy results frame, the alerts and where they went."""

    day: date
    results: pl.DataFrame
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alerts_sent: list[dict[str, Any]] = field(default_factory=list)
    path: str | None = None

    @property
    def must_stop(self) -> bool:
        return has_errors(self.results)

    @property
    def summary(self) -> dict[str, Any]:
        """JSON-friendly: date, counts (rows per outcome severity), breaches per severity, breached
        checks (one entry per check, as in the alerts), must_stop, alert counts and the partition path."""
        r = self.results
        counts = {s: int(r.filter(pl.col("severity") == s).height) for s in SEVERITIES}
        breaches = {s: int(r.filter(~pl.col("passed") & (pl.col("severity") == s)).height) for s in SEVERITIES}
        breached = [{k: a[k] for k in ("check", "category", "severity", "count", "venues", "subjects",
                                       "value", "threshold", "message")}
                    for a in build_alerts(r, min_severity="warn")]
        return {
            "date": self.day.isoformat(), "checks": int(r.height), "counts": counts, "breaches": breaches,
            "breached_checks": breached, "must_stop": self.must_stop,
            "alerts": len(self.alerts), "alerts_sent": len(self.alerts_sent), "path": self.path,
        }

    def to_markdown(self) -> str:
        """A short markdown rendering: verdict, counts, and a table of breached checks."""
        s = self.summary
        verdict = "STOP: error-level breach" if s["must_stop"] else "ok to continue"
        lines = [f"## Monitoring {s['date']}: {verdict}", "",
                 f"{s['checks']} results; breaches: " + ", ".join(f"{k} {v}" for k, v in s["breaches"].items()),
                 f"; alerts sent: {s['alerts_sent']} of {s['alerts']}", ""]
        if s["breached_checks"]:
            lines += ["| check | category | severity | count | venues | worst |", "|---|---|---|---|---|---|"]
            for b in s["breached_checks"]:
                msg = str(b["message"]).replace("|", "\\|")
                lines.append(f"| {b['check']} | {b['category']} | {b['severity']} | {b['count']} | "
                             f"{', '.join(b['venues']) or '-'} | {msg} |")
        else:
            lines.append("No breaches.")
        return "\n".join(lines) + "\n"


def _guard(category: str, severity: str, fn: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Run one group of checks; a crash becomes a result row instead of killing the nightly."""
    try:
        rows: list[dict[str, Any]] = fn(*args, **kwargs)
        return rows
    except Exception as exc:
        log.exception("monitor %s checks failed", category)
        return [result(f"{category}_checks", category, severity=severity, passed=False,
                       message=f"{category} checks crashed: {type(exc).__name__}: {exc}")]


def compute_results(day: date, lake: Lake, settings: Settings, cfg: MonitorSettings, *,
                    reference: tuple[date, date] | None = None, score: ScoreFn | None = None) -> pl.DataFrame:
    """All checks for ``day`` as a results frame (nothing written, nothing sent)."""
    rows = _guard("feed", "error", feed_checks, day, lake, settings.market.timezone, cfg)
    features = lake.read("features", [day]).collect() if lake.exists("features", day) else None
    children = (lake.read("child_orders", [day]).select("parent_id", "router_policy").collect()
                if lake.exists("child_orders", day) else None)
    fallback = (_guard_value(lambda: lit_fallback(lake, features.with_columns(pl.lit(day).alias("date")), [day],
                                                  rank1_only=False))
                if features is not None and score is not None else None)
    rows += _guard("model", "warn", model_rows, features, children, score, list(settings.router.static_waterfall), cfg,
                   fallback)
    rows += _guard("drift", "warn", drift_checks, day, lake, reference, cfg,
                   window_days=settings.train.window_days)
    return apply_overrides(results_frame(day, rows), dict(cfg.severity_overrides))


def run_monitor(day: date, lake: Lake, settings: Settings, *, reference: tuple[date, date] | None = None,
                score: ScoreFn | None = None, run_url: str | None = None, config: MonitorSettings | None = None,
                hook: AlertHook | None = None, write: bool = True, alert: bool = True) -> MonitorReport:
    """Compute every check for ``day``, write the ``monitoring`` partition (atomic replace) and send
    alerts (one per breached check, never twice for the same (check, date)).

    ``reference``: the champion's training window (start, end) for drift; default the last
    ``settings.train.window_days`` features partitions before ``day``. ``score``: the champion's
    scoring callable (None skips model checks with an info row). ``config``: thresholds, default
    ``settings.monitor`` (``SOR_MONITOR_*`` env). ``hook``: extra alert channel (e.g. Prefect).
    """
    cfg = config or settings.monitor
    results = compute_results(day, lake, settings, cfg, reference=reference, score=score)
    report = MonitorReport(day=day, results=results)
    if write:
        report.path = lake.write(DATASET, results, day).path
    report.alerts = build_alerts(results, run_url=run_url, min_severity=cfg.alert_min_severity)
    if alert:
        report.alerts_sent = send_alerts(report.alerts, lake, cfg, hook=hook)
    level = logging.ERROR if report.must_stop else logging.INFO
    log.log(level, "monitor %s: %s", day.isoformat(), report.summary["breaches"])
    return report
