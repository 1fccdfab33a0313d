"""Monitoring and alerting: data-feed health, model health of the champion, drift.

Importing this package registers the ``monitoring`` dataset (layer ``monitoring``) in the lake
catalog. Entry point: :func:`run_monitor`; the nightly stops when :func:`has_errors` (or
``MonitorReport.must_stop``) is true.
"""

from __future__ import annotations

from sor_pipeline.config.monitor import MonitorSettings
from sor_pipeline.monitoring.alerts import build_alerts, ledger_path, post_webhook, send_alerts
from sor_pipeline.monitoring.drift import psi
from sor_pipeline.monitoring.run import DATASET, MonitorReport, compute_results, has_errors, run_monitor
from sor_pipeline.monitoring.schema import MonitorResults
from sor_pipeline.storage.lake import Dataset, register

register(Dataset(DATASET, "monitoring", MonitorResults,
                 "Monitoring check results: data-feed health, model health, drift; one row per result."))

__all__ = [
    "MonitorReport",
    "MonitorResults",
    "MonitorSettings",
    "build_alerts",
    "compute_results",
    "has_errors",
    "ledger_path",
    "post_webhook",
    "psi",
    "run_monitor",
    "send_alerts",
]
