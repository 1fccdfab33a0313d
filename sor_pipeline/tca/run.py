"""Transaction-cost analysis: DuckDB SQL (sql/tca_*.sql) over the lake's views, written back to the lake.

Each statement is one file, reads the day's partitions through bound ``$date`` and returns one frame:
``tca_child`` (per child order), ``tca_parent`` (per parent order, implementation shortfall) and
``tca_agg`` (long-format aggregates over ``tca_child``, so it runs after tca_child is written).
Sign conventions are in the SQL headers and schemas/tca.py (+ = cost; markout + = moved our way).
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from sor_pipeline.storage.lake import Lake, WriteResult
from sor_pipeline.storage.sql import read_sql

TCA_STATEMENTS = ("tca_child", "tca_parent", "tca_agg")


def query(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, object]) -> pl.DataFrame:
    """Run ``sql/<name>.sql`` with bound ``params``; timestamps come back as ``Datetime("ns", "UTC")``."""
    frame = pl.from_arrow(con.sql(read_sql(name), params=params).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        [pl.col(c).dt.convert_time_zone("UTC") for c, t in frame.schema.items()
         if isinstance(t, pl.Datetime) and t.time_zone is not None]
    )


def tca_frames(day: date, lake: Lake, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, pl.DataFrame]:
    """tca_child and tca_parent for ``day`` without writing anything."""
    con = lake.duckdb(con)
    con.execute(read_sql("tca_session"))  # ASOF joins as sort-merge, never a nested loop (see the file)
    return {name: query(con, name, {"date": day}) for name in ("tca_child", "tca_parent")}


def run_tca(day: date, lake: Lake) -> dict[str, WriteResult]:
    """Compute and atomically write the tca_child, tca_parent and tca_agg partitions of ``day``."""
    con = lake.duckdb()
    try:
        out: dict[str, WriteResult] = {}
        for name, frame in tca_frames(day, lake, con).items():
            out[name] = lake.write(name, frame, day)
        lake.duckdb(con)  # refresh the views: tca_agg reads the tca_child partition just written
        out["tca_agg"] = lake.write("tca_agg", query(con, "tca_agg", {"date": day}), day)
        return out
    finally:
        con.close()


def tca_summary(results: dict[str, WriteResult]) -> dict[str, dict[str, object]]:
    """JSON-ready summary of :func:`run_tca` (rows read / written / quarantined and path per dataset)."""
    return {name: res.as_dict() for name, res in results.items()}
