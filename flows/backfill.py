"""The backfill: the nightly over every trading date of a range, serial or fanned out on Dask.

Serial (``SOR_TASK_RUNNER=thread``, the default): :func:`flows.nightly.nightly_flow` of each date in
turn, each taking its date's lock as it starts.

Dask (``SOR_TASK_RUNNER=dask``; ``SOR_DASK_ADDRESS`` for a running cluster, else a LocalCluster of
``max_workers`` single-thread processes): the same stage tasks on the cluster's workers, each submitted
to wait for exactly what it reads:

- ingest of D reads only D's drop: every date at once;
- features of D read D's primary tables and the trailing windows of earlier dates in the lake
  (``trades`` for the ADV, ``features`` for the venue statistics): after the ingest of D and the features
  of the backfill's date before D (which came after every earlier ingest);
- TCA of D reads only D's primary tables: after the ingest of D;
- then the night of D in this process, in date order, as soon as D's three stages are done (later
  dates' stages keep running meanwhile): the monitor scores with, and measures drift against the
  training window of, the champion night D starts with (what night D-1 decided), so it is part of the
  night; then retrain (per-venue training on the same cluster), gate, sandbox, report and decision.

The backfill holds every date's lock from the start (its workers write any of them at any time; the
locks stay with this process, no worker takes one). Each stage computes what it computes serially: the
same functions, the same inputs once its dependencies are done, the workers' polars and DuckDB thread
counts pinned to this process's (:func:`flows.common.local_cluster_kwargs`). When a stage fails, the
nights before its date are done, none after it runs, and the backfill raises its ``StageFailed`` as a
serial one would; later dates' ingest, features and TCA may already be in the lake (per-date
partitions, rewritten alike by the next run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.common import current, dask_cluster, lake_cached
from flows.ingest import ingest_fingerprint, ingest_task
from flows.nightly import _run, features_fingerprint, nightly_flow, tca_fingerprint
from flows.stages import features_task, tca_task
from sor_pipeline.config.calendar import trading_days
from sor_pipeline.config.faults import injected_stages
from sor_pipeline.config.settings import Settings
from sor_pipeline.storage.lake import Lake
from sor_pipeline.storage.locks import date_lock

#: The stages a Dask backfill runs ahead of the nights, in the order a night would run them.
FAN_OUT = ("ingest", "features", "tca")
_FINGERPRINTS: dict[str, Callable[[Lake, date], str]] = {"features": features_fingerprint, "tca": tca_fingerprint}


@task(name="fingerprint", cache_policy=NONE)
def fingerprint_task(stage: str, day: date) -> str:
    """The cache key part of ``stage`` for ``day``, taken once what the stage reads is in the lake (the
    serial night takes it at the same point)."""
    _, lake = current()
    return _FINGERPRINTS[stage](lake, day)


@flow(name="sor-backfill", log_prints=True)
def backfill_flow(start: date, end: date, raw_dir: str | None = None) -> list[dict[str, Any]]:
    """The nightly over every trading date in [start, end] (the exchange calendar's sessions minus
    Settings.market.holidays), fanned out on Dask with ``task_runner=dask`` (module docstring)."""
    settings, _ = current()
    days = trading_days(start, end, settings.market.holidays, settings.market.calendar)
    if settings.orchestration.task_runner != "dask":
        return [nightly_flow(d, raw_dir) for d in days]
    injected_stages()  # refuse a misspelt SOR_INJECT_FAULT before anything runs
    return _fan_out(settings, days, Path(raw_dir) if raw_dir else settings.raw_root)


def _fan_out(settings: Settings, days: list[date], raw: Path) -> list[dict[str, Any]]:
    from prefect_dask import DaskTaskRunner

    with contextlib.ExitStack() as stack:
        for day in days:
            stack.enter_context(date_lock(settings, day, "backfill"))
        address = stack.enter_context(dask_cluster(settings))
        runner = stack.enter_context(DaskTaskRunner(address=address))
        plan = submit_stages(runner, Lake(settings.lake_root), days, raw)
        nights = []
        for day in days:
            prepared = {stage: _run(stage, day, plan[day][stage].result) for stage in FAN_OUT}
            nights.append(nightly_flow(day, str(raw), prepared))
        return nights


def submit_stages(runner: Any, lake: Lake, days: list[date], raw: Path) -> dict[date, dict[str, Any]]:
    """Submit ingest, features and TCA of every date to ``runner`` (a started task runner) in dependency
    order (module docstring); returns their futures by date and stage."""
    plan: dict[date, dict[str, Any]] = {}
    previous: Any = None
    for day in days:
        ingest = runner.submit(
            lake_cached(ingest_task, lake, day),
            {"day": day, "raw_dir": str(raw), "fingerprint": ingest_fingerprint(day, raw)},
        )
        after = [ingest] if previous is None else [ingest, previous]
        features = runner.submit(
            lake_cached(features_task, lake, day),
            {"day": day, "fingerprint": runner.submit(fingerprint_task, {"stage": "features", "day": day}, after)},
        )
        tca = runner.submit(
            lake_cached(tca_task, lake, day),
            {"day": day, "fingerprint": runner.submit(fingerprint_task, {"stage": "tca", "day": day}, [ingest])},
        )
        plan[day] = {"ingest": ingest, "features": features, "tca": tca}
        previous = features
    return plan
