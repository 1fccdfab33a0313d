"""Tick data (quotes, depth, trades) as Parquet or CSV with the canonical columns.

Parquet keeps the canonical dtypes (ts ``timestamp[ns, UTC]``); CSV uses the execution-log text
codec (ISO-8601 UTC ns timestamps, empty = null). Files are recognised by their columns, so the
file name is free (``quotes.parquet`` by convention). :class:`TickWriter` streams a large day
(20 M rows) chunk by chunk: a pyarrow ``ParquetWriter`` (one row group per chunk) or an appended CSV.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sor_pipeline.adapters.base import (
    TICK_TABLES,
    AdapterResult,
    FormatError,
    canonical_columns,
    match_table,
    to_text_frame,
    with_source,
)
from sor_pipeline.adapters.execlog import read_canonical_csv

TickFormat = Literal["parquet", "csv"]


def _table_of(name: str, frame: pl.DataFrame) -> str:
    if name in TICK_TABLES:
        return name
    table = match_table(frame.columns, TICK_TABLES)
    if table is None:
        raise ValueError(f"{name}: columns {frame.columns} are not a tick table ({', '.join(TICK_TABLES)})")
    return table


def _canonical(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    cols = canonical_columns(table)
    return frame.select([pl.col(c).cast(d) if c in frame.columns else pl.lit(None, dtype=d).alias(c)
                         for c, d in cols.items()])


def tick_path(day_dir: Path, name: str, fmt: TickFormat) -> Path:
    return Path(day_dir) / f"{name}.{'parquet' if fmt == 'parquet' else 'csv'}"


def write_ticks(name: str, frame: pl.DataFrame, day_dir: Path, fmt: TickFormat) -> Path:
    """Write one tick table (``name`` = quotes/depth/trades, or any name whose columns are one) to
    ``day_dir/<name>.<parquet|csv>``; returns the path."""
    with TickWriter(day_dir, name, fmt) as w:
        w.write(frame)
    return w.path


class TickWriter:
    """Streaming writer of one tick table: ``write(chunk)`` any number of times, then ``close()``.

    Usable as a context manager. Chunks are cast to the canonical columns and dtypes.
    """

    def __init__(self, day_dir: Path, name: str, fmt: TickFormat) -> None:
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"unknown tick format {fmt!r}")
        self.name, self.fmt = name, fmt
        self.path = tick_path(day_dir, name, fmt)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows = 0
        self._table: str | None = name if name in TICK_TABLES else None
        self._pq: pq.ParquetWriter | None = None
        self._csv: BinaryIO | None = None
        self._closed = False
        if self._table is not None:
            self._open()

    def _open(self) -> None:
        assert self._table is not None
        if self.fmt == "parquet":
            schema = _canonical(pl.DataFrame(schema=canonical_columns(self._table)), self._table).to_arrow().schema
            self._pq = pq.ParquetWriter(self.path, schema, compression="zstd")
        else:
            fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
            fh.write((",".join(canonical_columns(self._table)) + "\n").encode())
            self._csv = fh

    def write(self, chunk: pl.DataFrame) -> None:
        """Append ``chunk`` (canonical columns; extra columns are dropped)."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        if self._table is None:
            self._table = _table_of(self.name, chunk)
            self._open()
        assert self._table is not None
        if chunk.height == 0:
            return
        if self._pq is not None:
            table = _canonical(chunk, self._table).to_arrow()
            self._pq.write_table(pa.Table.from_batches(table.to_batches(), schema=self._pq.schema))
        elif self._csv is not None:
            to_text_frame(chunk, self._table).write_csv(self._csv, include_header=False)
        self.rows += chunk.height

    def close(self) -> Path:
        if self._closed:
            return self.path
        if self._table is None:
            raise ValueError(f"{self.path}: nothing written and {self.name!r} is not a tick table name")
        if self._pq is not None:
            self._pq.close()
        if self._csv is not None:
            self._csv.close()
        self._closed = True
        return self.path

    def __enter__(self) -> TickWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


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
    frame = with_source(_canonical(pl.read_parquet(path), table), path)
    return AdapterResult(tables={table: frame}, files=[{"path": str(path), "format": "parquet", "tables": [table],
                                                        "rows": {table: frame.height}}])
