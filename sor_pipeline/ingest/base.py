"""Shared pieces of the ingest adapters: result type, errors, canonical column sets, text codecs.

Every adapter normalises one source format to the canonical tables of docs/DESIGN.md at the edge:
timestamps ``Datetime("ns", "UTC")``, prices float64, quantities int64 shares, lineage columns
``_source_file`` (str) and ``_source_line`` (1-based Int64 line or record number) on every row.
Lines that cannot even become a row go to ``rejects`` (table, source_file, source_line, checks,
reason, row_json), which the lake turns into quarantine records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from schemas import TABLE_SCHEMAS
from schemas._types import TS_NS_UTC
from sor_pipeline.storage.validation import PARSE_FAILURES, RAW_ROW, SOURCE_FILE, SOURCE_LINE, encode_parse_failure

#: Canonical tables an adapter may produce.
EXECLOG_TABLES = ("parent_orders", "child_orders", "fills", "venues")
TICK_TABLES = ("quotes", "depth", "trades")
ADAPTER_TABLES = EXECLOG_TABLES + TICK_TABLES

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "table": pl.Utf8(), "source_file": pl.Utf8(), "source_line": pl.Int64(), "checks": pl.Utf8(),
    "reason": pl.Utf8(), "row_json": pl.Utf8(),
}


class DropError(ValueError):
    """A raw drop cannot be read; the message names the folder or file (and line where relevant)."""


class EmptyDropError(DropError):
    """The drop folder is missing or holds no data files."""


class UnrecognisedFileError(DropError):
    """A file in the drop matches no known format by name and content."""


class FormatError(DropError):
    """A file was recognised but is malformed as a whole (bad header, unpaired LOBSTER file, ...)."""


@dataclass
class AdapterResult:
    """Canonical tables (+ lineage columns) read from one file or a whole drop.

    ``files`` holds one ``{"path", "format", "tables", "rows"}`` dict per source file
    (``tables``: list of table names, ``rows``: rows per table).
    """

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    rejects: pl.DataFrame = field(default_factory=lambda: empty_rejects())
    files: list[dict[str, Any]] = field(default_factory=list)


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def make_rejects(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rejects frame from dicts with the REJECT_SCHEMA keys."""
    return pl.DataFrame(rows, schema=REJECT_SCHEMA) if rows else empty_rejects()


def canonical_columns(table: str) -> dict[str, pl.DataType]:
    """Column name -> polars dtype of a canonical table, in declaration order."""
    return {name: col.dtype.type for name, col in TABLE_SCHEMAS[table].to_schema().columns.items()}


def required_columns(table: str) -> set[str]:
    """Columns a source must carry to be recognised as ``table`` (nullable ones may be absent)."""
    return {name for name, col in TABLE_SCHEMAS[table].to_schema().columns.items() if not col.nullable}


def match_table(columns: list[str] | set[str], candidates: tuple[str, ...] = ADAPTER_TABLES) -> str | None:
    """The canonical table whose required columns are all in ``columns`` (the most specific one)."""
    have = set(columns)
    hits = [(len(required_columns(t)), t) for t in candidates if required_columns(t) <= have]
    return max(hits)[1] if hits else None


def explain_mismatch(columns: list[str] | set[str], candidates: tuple[str, ...] = ADAPTER_TABLES) -> str:
    """Why ``columns`` match no table: the closest table and the required column(s) it lacks."""
    have = {str(c).strip().lstrip("\ufeff") for c in columns}
    scored = [(len(required_columns(t) & have), t) for t in candidates]
    best, table = max(scored)
    if best == 0:
        return "no canonical table's columns found"
    missing = sorted(required_columns(table) - have)
    return f"closest table {table!r} lacks required column(s) {missing}"


def with_source(frame: pl.DataFrame, path: Path | str, lines: pl.Series | None = None,
                first_line: int = 1) -> pl.DataFrame:
    """Add ``_source_file`` and ``_source_line`` (given, or ``first_line`` + row number)."""
    line = (lines.cast(pl.Int64).alias(SOURCE_LINE) if lines is not None
            else (pl.int_range(pl.len(), dtype=pl.Int64) + first_line).alias(SOURCE_LINE))
    return frame.with_columns(pl.lit(str(path), dtype=pl.Utf8).alias(SOURCE_FILE), line)


# -------------------------------------------------------------------------------------------------
# text codecs shared by the execution-log and tick CSV/JSONL formats
TS_TEXT_FORMAT = "%Y-%m-%dT%H:%M:%S.%9fZ"


def to_text_frame(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Canonical columns, in order, with timestamps as ISO-8601 UTC ns text and dates as YYYY-MM-DD."""
    cols = canonical_columns(table)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: frame lacks canonical column(s) {missing}")
    exprs = []
    for name, dtype in cols.items():
        if isinstance(dtype, pl.Datetime):
            exprs.append(pl.col(name).cast(TS_NS_UTC).dt.to_string(TS_TEXT_FORMAT).alias(name))
        elif dtype == pl.Date:
            exprs.append(pl.col(name).dt.to_string("%Y-%m-%d").alias(name))
        else:
            exprs.append(pl.col(name).cast(dtype))
    return frame.select(exprs)


def parse_ts(expr: pl.Expr) -> pl.Expr:
    """ISO-8601 text (``...Z``, 0-9 fractional digits, or an offset) -> Datetime(ns, UTC)."""
    return expr.str.to_datetime(time_unit="ns", time_zone="UTC", strict=False)


def from_text_frame(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Canonical typed frame from text-ish columns (CSV read as strings, or decoded JSON).

    Missing nullable columns become null. A value that does not parse becomes null and is then
    caught by the pandera model (required column) downstream; lineage columns are kept.
    """
    out: list[pl.Expr] = []
    lost: list[pl.Expr] = []
    for name, dtype in canonical_columns(table).items():
        if name not in frame.columns:
            out.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        expr = _parse_column(pl.col(name), frame.schema[name], dtype)
        out.append(expr.alias(name))
        if frame.schema[name] == pl.Utf8 and dtype != pl.Utf8:
            lost.append(pl.when(pl.col(name).is_not_null() & expr.is_null())
                        .then(encode_parse_failure(name, f"parse({dtype})", pl.col(name))))
    lineage = [c for c in (SOURCE_FILE, SOURCE_LINE) if c in frame.columns]
    if not lost:
        return frame.select(*out, *lineage)
    parsed = frame.select(*out, *lineage, *_parse_columns(frame, lost))
    if parsed.get_column(PARSE_FAILURES).null_count() == parsed.height:  # everything parsed
        return parsed.drop(PARSE_FAILURES, RAW_ROW)
    return parsed


def _parse_column(col: pl.Expr, have: pl.DataType, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):
        return parse_ts(col.cast(pl.Utf8)) if have in (pl.Utf8, pl.Null) else col.cast(dtype)
    if dtype == pl.Date:
        return col.cast(pl.Utf8).str.to_date("%Y-%m-%d", strict=False) if have in (pl.Utf8, pl.Null) \
            else col.cast(dtype)
    if dtype == pl.Utf8:
        return col.cast(pl.Utf8)
    return col.cast(dtype, strict=False)


def _parse_columns(frame: pl.DataFrame, lost: list[pl.Expr]) -> list[pl.Expr]:
    """``_parse_failures`` (what did not parse, with its original text) and ``_raw_row`` (the row as
    read, JSON) on the rows where some text value became null: the quarantine keeps the bad value."""
    failures = pl.concat_str(lost, separator="\x1e", ignore_nulls=True)
    failures = pl.when(failures.str.len_chars() > 0).then(failures).alias(PARSE_FAILURES)
    text = [c for c in frame.columns if c not in (SOURCE_FILE, SOURCE_LINE, PARSE_FAILURES, RAW_ROW)]
    raw = pl.when(failures.is_not_null()).then(pl.struct(text).struct.json_encode()).alias(RAW_ROW)
    return [failures, raw]


def concat_tables(parts: dict[str, list[pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """Concatenate per-table frames from several files (relaxed: canonical dtypes win)."""
    return {t: pl.concat(fs, how="diagonal_relaxed") if len(fs) > 1 else fs[0] for t, fs in parts.items() if fs}
