"""Tick data (quotes, depth, trades) as Parquet or CSV with the canonical columns.

Parquet keeps the canonical dtypes (ts ``timestamp[ns, UTC]``); CSV uses the execution-log text
codec (ISO-8601 UTC ns timestamps, empty = null). Files are recognised by their columns, so the
file name is free (``quotes.parquet`` by convention). :class:`TickWriter` streams a large day
(20 M rows) chunk by chunk: a pyarrow ``ParquetWriter`` (one row group per chunk) or an appended CSV.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sor_pipeline.ingest.base import (
    TICK_TABLES,
    AdapterResult,
    FormatError,
    canonical_columns,
    match_table,
    with_source,
)
from sor_pipeline.ingest.execlog import read_canonical_csv


def canonical_frame(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    cols = canonical_columns(table)
    return frame.select([pl.col(c).cast(d) if c in frame.columns else pl.lit(None, dtype=d).alias(c)
                         for c, d in cols.items()])


def parquet_table(path: Path, candidates: tuple[str, ...] = TICK_TABLES) -> str | None:
    """The canonical table a Parquet file holds, from its schema alone."""
    return match_table(list(pl.read_parquet_schema(path)), candidates)


def read_ticks(path: Path, table: str | None = None) -> AdapterResult:
    """One tick file (Parquet or CSV), table recognised by its columns; canonical dtypes + lineage
    (``_source_line`` = row number for Parquet, file line for CSV)."""
    path = Path(path)
    if path.suffix.lower() != ".parquet":
        return read_canonical_csv(path, table, candidates=TICK_TABLES)
    table = table or parquet_table(path)
    if table is None:
        raise FormatError(f"{path}: Parquet columns {list(pl.read_parquet_schema(path))} match no tick table")
    frame = with_source(canonical_frame(pl.read_parquet(path), table), path)
    return AdapterResult(tables={table: frame}, files=[{"path": str(path), "format": "parquet", "tables": [table],
                                                        "rows": {table: frame.height}}])
