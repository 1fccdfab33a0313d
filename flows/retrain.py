"""The retrain subflow: per-venue training fans out as one Prefect task per venue on the configured
task runner (a thread pool by default, a Dask cluster with ``SOR_TASK_RUNNER=dask``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from prefect import flow, task

from flows.common import current, task_runner
from sor_pipeline.config.faults import maybe_inject
from sor_pipeline.learning.router_model import VenueModel
from sor_pipeline.learning.train import TrainConfig, VenueJob, VenueReport, train_venue
from sor_pipeline.promotion.retrain import run_retrain


@task(name="train-venue", retries=1, retry_delay_seconds=1)
def train_venue_task(frame: Any, venue: str, venue_type: str, config: TrainConfig) -> tuple[VenueModel, VenueReport]:
    return train_venue(frame, venue, venue_type, config)


def prefect_mapper(fn: Callable[..., tuple[VenueModel, VenueReport]],
                   jobs: list[VenueJob]) -> list[tuple[VenueModel, VenueReport]]:
    """Submit one ``train-venue`` task per venue to the running flow's task runner; results in order."""
    futures = [train_venue_task.submit(*job) for job in jobs]
    return [f.result() for f in futures]


@flow(name="sor-retrain")
def retrain_flow(day: date, fingerprint: str, data_checks_ok: bool = True, promote: bool = False) -> dict[str, Any]:
    """Train, backtest and gate the challenger for ``day``; register it (promotion is the nightly's)."""
    maybe_inject("retrain")
    settings, lake = current()
    return run_retrain(day, lake, settings, data_checks_ok=data_checks_ok, promote=promote,
                       mapper=prefect_mapper).as_dict()


def run_retrain_flow(day: date, fingerprint: str, data_checks_ok: bool = True) -> dict[str, Any]:
    """Call the subflow with the task runner the settings ask for (threads or Dask)."""
    settings, _ = current()
    return retrain_flow.with_options(task_runner=task_runner(settings))(day, fingerprint, data_checks_ok)
