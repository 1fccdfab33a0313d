"""The nightly's schedule: a deployment with a cron (weekdays after the close, market time zone),
served by a long-running process (`sor-pipeline serve`). `prefect.yaml` at the repository root
declares the same deployment for a work pool and worker instead."""

from __future__ import annotations

from typing import Any

from flows.nightly import nightly_flow
from sor_pipeline.config.settings import Settings

DEPLOYMENT_NAME = "sor-nightly-weekdays"


def nightly_deployment(settings: Settings) -> Any:
    """``sor-nightly`` on ``Settings.orchestration.schedule_cron`` in ``Settings.market.timezone``; the run's date
    defaults to the market's today, and a holiday run returns at once as skipped."""
    from prefect.schedules import Cron

    return nightly_flow.to_deployment(
        name=DEPLOYMENT_NAME,
        schedule=Cron(settings.orchestration.schedule_cron, timezone=settings.market.timezone),
        description="sor-pipeline nightly: ingest, features, TCA, monitor, retrain, gate, sandbox, report, promote",
        tags=["sor-pipeline", "nightly"],
    )


def serve_nightly(settings: Settings) -> None:  # pragma: no cover - blocks until SIGTERM
    from prefect import serve

    serve(nightly_deployment(settings))
