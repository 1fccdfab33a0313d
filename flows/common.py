"""Shared wiring: settings, lake, task runner, cache policy, fingerprints."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.task_runners import ThreadPoolTaskRunner

from sor_pipeline.config.settings import Settings, get_settings
from sor_pipeline.storage.lake import Lake

log = logging.getLogger(__name__)

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


#: Scheduler address of the Dask cluster this process runs a backfill on (:func:`dask_cluster`): the
#: nights' per-venue training joins it instead of starting a cluster of its own.
_ACTIVE_DASK: list[str] = []


def task_runner(settings: Settings | None = None) -> Any:
    """Thread pool capped at ``max_workers`` by default; a Dask cluster when ``task_runner=dask``: the
    one at ``dask_address``, else the backfill's running cluster, else a LocalCluster for the run."""
    s = settings or get_settings()
    if s.orchestration.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        address = s.orchestration.dask_address or (_ACTIVE_DASK[-1] if _ACTIVE_DASK else None)
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(cluster_kwargs=local_cluster_kwargs(s))
    return ThreadPoolTaskRunner(max_workers=s.orchestration.max_workers)


def local_cluster_kwargs(settings: Settings) -> dict[str, Any]:
    """A LocalCluster of ``max_workers`` single-thread processes whose polars and DuckDB thread counts
    are this process's (or ``compute_threads``): the workers compute the bytes a serial run computes."""
    from sor_pipeline.config.threads import worker_env

    return {"n_workers": settings.orchestration.max_workers, "threads_per_worker": 1, "processes": True,
            "dashboard_address": None, "env": {**worker_env(settings.orchestration.compute_threads),
                                               **prefect_api_env()}}


def prefect_api_env() -> dict[str, str]:
    """``PREFECT_API_URL`` of the API this process talks to, for its worker processes. With no server
    configured that is this process's ephemeral one: without it each worker would start its own (about
    20 s each, all on one database). Workers on other machines need a real server (``SOR_PREFECT_API_URL``)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        return {"PREFECT_API_URL": str(configured)}
    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    return {"PREFECT_API_URL": url} if url.startswith("http") else {}


@contextmanager
def dask_cluster(settings: Settings) -> Iterator[str]:
    """The Dask scheduler address to run on while the block runs: ``dask_address``, or a LocalCluster
    started here (:func:`local_cluster_kwargs`) and closed on leaving. Task runners made meanwhile
    (:func:`task_runner`) use it. A running cluster whose workers have other thread counts than this
    process is logged: its results may differ from a serial run's in the last bits."""
    from distributed import Client, LocalCluster

    from sor_pipeline.config.threads import thread_counts

    with contextlib.ExitStack() as stack:
        address = settings.orchestration.dask_address
        if address is None:
            cluster = stack.enter_context(LocalCluster(**local_cluster_kwargs(settings)))
            address = str(cluster.scheduler_address)
        else:
            with Client(address, set_as_default=False) as client:
                theirs = client.run(thread_counts)
            ours = ({"polars": settings.orchestration.compute_threads, "duckdb": settings.orchestration.compute_threads}
                    if settings.orchestration.compute_threads else thread_counts())
            odd = {w: c for w, c in theirs.items() if c != ours}
            if odd:
                log.warning("Dask workers with other thread counts than %s (results may differ from a serial run "
                            "in the last bits; set compute_threads and start the workers with POLARS_MAX_THREADS "
                            "and SOR_DUCKDB_THREADS): %s", ours, odd)
        _ACTIVE_DASK.append(address)
        try:
            yield address
        finally:
            _ACTIVE_DASK.pop()


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
