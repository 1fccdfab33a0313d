"""Ingest flow: raw drop(s) -> validated canonical tables in the lake, with quarantine."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from flows.common import STAGE_CACHE, current, drop_fingerprint, lake_cached, lake_fingerprint
from sor_pipeline.config.calendar import trading_days
from sor_pipeline.config.faults import injected_stages, maybe_inject
from sor_pipeline.ingest.day import INGEST_TABLES, ingest_day, resolve_drop
from sor_pipeline.storage.lake import TRUTH_DATASET
from sor_pipeline.storage.locks import date_lock

#: What an ingest writes for a date: its tables, the derived NBBO and the simulator's truth (not the
#: quarantine, whose records carry the time they were made: the same drop would never give the same key).
INGEST_OUTPUTS = [*INGEST_TABLES, "nbbo", TRUTH_DATASET]


@task(name="ingest", cache_policy=STAGE_CACHE, persist_result=True, retries=1, retry_delay_seconds=2)
def ingest_task(day: date, raw_dir: str, fingerprint: str) -> dict[str, Any]:
    """Read, validate and write one day's drop. ``fingerprint`` (drop files + current lake outputs)
    makes the cache key follow the data."""
    maybe_inject("ingest")
    settings, lake = current()
    return ingest_day(day, Path(raw_dir), lake, settings).as_dict()


def ingest_fingerprint(day: date, raw_dir: Path) -> str:
    """The drop's files plus the content of this lake's ingest outputs for ``day`` (and its root): once
    another drop has replaced the day, re-ingesting the first drop runs again instead of reporting a
    cached result that the lake no longer holds."""
    _, lake = current()
    return f"{drop_fingerprint(resolve_drop(raw_dir, day))}:{lake_fingerprint(lake, INGEST_OUTPUTS, [day])}"


@flow(name="sor-ingest", log_prints=True)
def ingest_flow(start: date, end: date | None = None, raw_dir: str | None = None) -> list[dict[str, Any]]:
    """Ingest every trading date in [start, end] (end defaults to start)."""
    injected_stages()  # refuse a misspelt SOR_INJECT_FAULT before anything runs
    settings, _ = current()
    raw = Path(raw_dir) if raw_dir else settings.raw_root
    days = trading_days(start, end or start, settings.market.holidays,
                        settings.market.calendar) or [start]
    out = []
    _, lake = current()
    for day in days:
        with date_lock(settings, day, "ingest"):  # one writer per date: a second is refused
            out.append(lake_cached(ingest_task, lake, day)(day, str(raw), ingest_fingerprint(day, raw)))
    rows = [{"date": s["date"], "table": t, **{k: v[k] for k in ("read", "written", "quarantined")}}
            for s in out for t, v in s["tables"].items()]
    create_table_artifact(rows, key="ingest-summary", description="Rows read, written and quarantined per table")
    return out
