"""Thread counts of the compute libraries, pinned so that every process that runs a stage computes the
same bytes: the driver and each Dask worker.

polars reads ``POLARS_MAX_THREADS`` once, at import; DuckDB takes its ``threads`` per connection (the lake
opens its connections with :func:`duckdb_config`, which reads ``SOR_DUCKDB_THREADS``); XGBoost trains
with ``nthread=1`` always (:class:`sor_pipeline.learning.train.TrainConfig`). Parallel float sums can
group their terms by thread, so a worker with other counts than the serial run may differ in the last
bits: :func:`worker_env` gives a LocalCluster's workers this process's counts before they import
anything, and :func:`thread_counts` lets a caller check a running cluster's workers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

POLARS_ENV = "POLARS_MAX_THREADS"
DUCKDB_ENV = "SOR_DUCKDB_THREADS"
#: DuckDB's ``memory_limit`` for the lake's connections (e.g. ``2GB``): past it, sorts and joins spill to
#: ``<tmp>/sor-duckdb-spill`` instead of growing (measured on the big day's TCA: peak 5.5 -> 2.8 GB,
#: 11.5 -> 14.7 s, same rows; float sums may group differently, ~1e-12 bps, so a re-run is not
#: byte-identical). Unset: DuckDB's default, 80 % of the machine's memory.
DUCKDB_MEMORY_ENV = "SOR_DUCKDB_MEMORY_LIMIT"


def duckdb_config() -> dict[str, Any]:
    """``duckdb.connect(config=...)`` of the lake: ``threads`` when ``SOR_DUCKDB_THREADS`` pins it,
    ``memory_limit`` (and a spill directory) when ``SOR_DUCKDB_MEMORY_LIMIT`` sets one."""
    raw = os.environ.get(DUCKDB_ENV, "").strip()
    out: dict[str, Any] = {"threads": int(raw)} if raw else {}
    limit = os.environ.get(DUCKDB_MEMORY_ENV, "").strip()
    if limit:
        out.update(memory_limit=limit, temp_directory=str(Path(tempfile.gettempdir()) / "sor-duckdb-spill"))
    return out


def thread_counts() -> dict[str, int]:
    """This process's thread counts: polars' pool and a new lake DuckDB connection's ``threads``."""
    import duckdb
    import polars as pl

    con = duckdb.connect(config=duckdb_config())
    try:
        row = con.execute("select current_setting('threads')").fetchone()
    finally:
        con.close()
    return {"polars": int(pl.thread_pool_size()), "duckdb": int(row[0]) if row else 0}


def worker_env(compute_threads: int | None = None) -> dict[str, str]:
    """Environment for Dask worker processes: ``compute_threads`` for polars and DuckDB when given, else
    this process's own counts (so the workers compute what this process computes), and one OpenMP thread."""
    counts = {"polars": compute_threads, "duckdb": compute_threads} if compute_threads else thread_counts()
    return {POLARS_ENV: str(counts["polars"]), DUCKDB_ENV: str(counts["duckdb"]), "OMP_NUM_THREADS": "1"}
