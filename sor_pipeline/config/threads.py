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
from typing import Any

POLARS_ENV = "POLARS_MAX_THREADS"
DUCKDB_ENV = "SOR_DUCKDB_THREADS"


def duckdb_config() -> dict[str, Any]:
    """``duckdb.connect(config=...)`` of the lake: ``threads`` when ``SOR_DUCKDB_THREADS`` pins it."""
    raw = os.environ.get(DUCKDB_ENV, "").strip()
    return {"threads": int(raw)} if raw else {}


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
