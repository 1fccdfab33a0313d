"""Shared wiring: settings, lake, task runner, cache policy, fingerprints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.task_runners import ThreadPoolTaskRunner

from sor_pipeline.config.settings import Settings, get_settings
from sor_pipeline.storage.lake import Lake

#: Stage results are cached on their inputs (which carry data fingerprints) and the task's code,
#: and persisted, so a re-run after a crash skips stages that already finished on the same data.
STAGE_CACHE = INPUTS + TASK_SOURCE


#: The lake dataset whose partition proves a cached stage's result is still on disk.
STAGE_OUTPUT = {"ingest": "child_orders", "features": "features", "tca": "tca_child"}


def lake_cached(task: Any, lake: Lake, day: date) -> Any:
    """``task`` reusing its cached result only while its output partition for ``day`` is in ``lake``
    (the one refresh rule of every flow: a result cached for a lake that was since wiped is recomputed)."""
    return task.with_options(refresh_cache=not lake.exists(STAGE_OUTPUT[task.name], day))


def current() -> tuple[Settings, Lake]:
    s = get_settings()
    return s, Lake(s.lake_root)


def task_runner(settings: Settings | None = None) -> Any:
    """Thread pool capped at ``max_workers`` by default; a Dask cluster when ``task_runner=dask``."""
    s = settings or get_settings()
    if s.orchestration.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if s.orchestration.dask_address:
            return DaskTaskRunner(address=s.orchestration.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": s.orchestration.max_workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    return ThreadPoolTaskRunner(max_workers=s.orchestration.max_workers)


def files_fingerprint(paths: Iterable[Path]) -> str:
    """Cheap content proxy: names, sizes and mtimes (ns) of files, sorted."""
    h = hashlib.sha256()
    for p in sorted(paths):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def drop_fingerprint(day_dir: Path) -> str:
    return files_fingerprint(p for p in day_dir.rglob("*") if p.is_file())


def lake_fingerprint(lake: Lake, datasets: Iterable[str], days: Iterable[date]) -> str:
    """Content hash of the datasets' partitions for ``days``, bound to this lake's root (an empty lake
    elsewhere must not share a cache key with this one). Content, not mtimes: a partition rewritten
    with the same bytes (a re-run) keeps the key, one rewritten with other bytes changes it."""
    day_list = list(days)
    h = hashlib.sha256(str(lake.root.resolve()).encode())
    for name in datasets:
        for d in day_list:
            h.update(f"{name}/{d.isoformat()}:{lake.partition_hash(name, d)}\n".encode())
    return h.hexdigest()[:24]
