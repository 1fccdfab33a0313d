"""Our execution log: one CSV or JSON-lines file per table (parent_orders, child_orders, fills, venues).

Layout of a day: ``<table>.csv`` or ``<table>.jsonl``, columns = canonical column names in schema
order; timestamps ISO-8601 UTC with nanoseconds (``2024-03-05T14:30:00.123456789Z``), dates
``YYYY-MM-DD``, nulls empty (CSV) or ``null`` (JSONL). Units as the canonical tables: prices in the
instrument currency, quantities int64 shares, ``fee_bps`` + paid / - rebate.

Readers recognise the table by content (CSV header / first JSON record keys ⊇ the table's required
columns), so a renamed file still loads. The same codec serves canonical tick CSVs (ticks.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from sor_pipeline.ingest.base import (
    ADAPTER_TABLES,
    EXECLOG_TABLES,
    AdapterResult,
    FormatError,
    canonical_columns,
    from_text_frame,
    make_rejects,
    match_table,
    with_source,
)
from sor_pipeline.storage.validation import SOURCE_LINE


def csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    return [c.strip().strip('"') for c in first.rstrip("\r\n").split(",")]


def read_canonical_csv(path: Path, table: str | None = None,
                       candidates: tuple[str, ...] = ADAPTER_TABLES) -> AdapterResult:
    """A canonical-column CSV (header line 1) -> one typed table; ``_source_line`` = file line (data from 2)."""
    path = Path(path)
    header = csv_header(path)
    table = table or match_table(header, candidates)
    if table is None:
        raise FormatError(f"{path}: CSV header {header[:12]} matches no canonical table")
    raw = pl.read_csv(path, infer_schema=False)
    frame = from_text_frame(with_source(raw, path, first_line=2), table)
    return AdapterResult(tables={table: frame},
                         files=[{"path": str(path), "format": "csv", "tables": [table], "rows": {table: frame.height}}])


def _first_record_keys(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    return []
                return list(rec) if isinstance(rec, dict) else []
    return []


def read_canonical_jsonl(path: Path, table: str | None = None,
                         candidates: tuple[str, ...] = ADAPTER_TABLES) -> AdapterResult:
    """JSON lines of canonical records -> one typed table. Blank lines are skipped; a line that is not
    a JSON object is rejected (check ``jsonl parse``) and the rest loads."""
    path = Path(path)
    table = table or match_table(_first_record_keys(path), candidates)
    if table is None:
        raise FormatError(f"{path}: first JSON record matches no canonical table")
    cols = canonical_columns(table)
    text_dtypes = {n: (pl.Utf8() if isinstance(d, pl.Datetime) or d == pl.Date else d) for n, d in cols.items()}
    lines = pl.Series("line", path.read_text(encoding="utf-8").splitlines(), dtype=pl.Utf8)
    numbered = pl.DataFrame({"line": lines}).with_row_index(SOURCE_LINE, offset=1).filter(
        pl.col("line").str.strip_chars() != "")
    struct = pl.Struct(text_dtypes)
    rejects = []
    try:
        decoded = numbered.with_columns(pl.col("line").str.json_decode(struct).alias("rec"))
    except Exception:
        good_rows = []
        for no, line in numbered.select(SOURCE_LINE, "line").iter_rows():
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
                good_rows.append((no, json.dumps({k: rec.get(k) for k in cols})))
            except ValueError as exc:
                rejects.append({"table": table, "source_file": str(path), "source_line": no,
                                "checks": "jsonl parse", "reason": f"{path}:{no}: invalid JSON record ({exc})",
                                "row_json": line})
        numbered = pl.DataFrame(good_rows, schema={SOURCE_LINE: pl.Int64, "line": pl.Utf8}, orient="row")
        decoded = numbered.with_columns(pl.col("line").str.json_decode(struct).alias("rec"))
    flat = decoded.select(pl.col("rec").struct.unnest(), pl.col(SOURCE_LINE).cast(pl.Int64))
    frame = from_text_frame(with_source(flat, path, lines=flat.get_column(SOURCE_LINE)), table)
    return AdapterResult(tables={table: frame}, rejects=make_rejects(rejects),
                         files=[{"path": str(path), "format": "jsonl", "tables": [table],
                                 "rows": {table: frame.height}}])


def read_execlog(path: Path) -> AdapterResult:
    """One execution-log file (``.csv`` or ``.jsonl``), table recognised by content."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return read_canonical_jsonl(path, candidates=EXECLOG_TABLES)
    return read_canonical_csv(path, candidates=EXECLOG_TABLES)
