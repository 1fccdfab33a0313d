"""Our execution log: one CSV or JSON-lines file per table (parent_orders, child_orders, fills, venues).

Layout of a day: ``<table>.csv`` or ``<table>.jsonl``, columns = canonical column names in schema
order; timestamps ISO-8601 UTC with nanoseconds (``2024-03-05T14:30:00.123456789Z``), dates
``YYYY-MM-DD``, nulls empty (CSV) or ``null`` (JSONL). Units as the canonical tables: prices in the
instrument currency, quantities int64 shares, ``fee_bps`` + paid / - rebate.

Readers recognise the table by content (CSV header / first JSON record keys ⊇ the table's required
columns), so a renamed file still loads. The same codec serves canonical tick CSVs (ticks.py).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl

from sor_pipeline.ingest.base import (
    ADAPTER_TABLES,
    EXECLOG_TABLES,
    AdapterResult,
    FormatError,
    canonical_columns,
    explain_mismatch,
    from_text_frame,
    make_rejects,
    match_table,
    with_source,
)
from sor_pipeline.storage.validation import SOURCE_LINE


def csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline()
    return [c.strip().strip('"') for c in first.rstrip("\r\n").split(",")]


def _fields(line: str) -> int:
    if line.count('"') % 2:
        return -1
    try:
        return len(next(csv.reader([line])))
    except (csv.Error, StopIteration):
        return -1


def _csv_lines(path: Path) -> tuple[str, pl.DataFrame]:
    """Header line and the numbered non-blank data lines (``_source_line``, ``text``, ``fields``)."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace").splitlines()
    header = text[0] if text else ""
    lines = pl.DataFrame({"text": text[1:]}, schema={"text": pl.Utf8}).with_row_index(SOURCE_LINE, offset=2)
    lines = lines.filter(pl.col("text").str.strip_chars() != "")
    plain = pl.col("text").str.count_matches(",", literal=True) + 1
    quoted = pl.col("text").str.contains('"', literal=True)
    fields = pl.when(quoted).then(pl.col("text").map_elements(_fields, return_dtype=pl.Int64)).otherwise(plain)
    return header, lines.with_columns(pl.col(SOURCE_LINE).cast(pl.Int64), fields.cast(pl.Int64).alias("fields"))


def _line_rejects(bad: pl.DataFrame, path: Path, table: str, width: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for no, text, fields in bad.select(SOURCE_LINE, "text", "fields").iter_rows():
        if "\ufffd" in text:
            check, why = "encoding", "not valid UTF-8"
        elif fields < 0:
            check, why = "csv quoting", "unbalanced quotes"
        else:
            check, why = "csv fields", f"{fields} fields, the header has {width}"
        out.append({"table": table, "source_file": str(path), "source_line": no, "checks": check,
                    "reason": f"{path}:{no}: {why}", "row_json": text})
    return out


def read_canonical_csv(path: Path, table: str | None = None,
                       candidates: tuple[str, ...] = ADAPTER_TABLES) -> AdapterResult:
    """A canonical-column CSV (header line 1) -> one typed table; ``_source_line`` = file line (data from 2).
    A line with the wrong number of fields, unbalanced quotes or bytes that are not UTF-8 is rejected
    (its text kept) and the rest loads."""
    path = Path(path)
    header = csv_header(path)
    table = table or match_table(header, candidates)
    if table is None:
        raise FormatError(f"{path}: CSV header {header[:12]} matches no canonical table: "
                          f"{explain_mismatch(header, candidates)}")
    head, lines = _csv_lines(path)
    ok = (pl.col("fields") == len(header)) & ~pl.col("text").str.contains("\ufffd", literal=True)
    rejects = _line_rejects(lines.filter(~ok), path, table, len(header))
    good = lines.filter(ok)
    body = "\n".join([head, *good.get_column("text").to_list()]) + "\n"
    raw = pl.read_csv(io.StringIO(body), infer_schema=False)
    frame = from_text_frame(with_source(raw, path, lines=good.get_column(SOURCE_LINE)), table)
    return AdapterResult(tables={table: frame}, rejects=make_rejects(rejects),
                         files=[{"path": str(path), "format": "csv", "tables": [table], "rows": {table: frame.height}}])


def _first_record_keys(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
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
        raise FormatError(f"{path}: first JSON record matches no canonical table: "
                          f"{explain_mismatch(_first_record_keys(path), candidates)}")
    cols = canonical_columns(table)
    # every field decoded as text (a typed decode silently truncates 1.5 into an int column); the
    # canonical types are parsed after, so a value that does not fit keeps its text into the quarantine
    text = pl.Struct(dict.fromkeys(cols, pl.Utf8()))
    lines = pl.Series("line", path.read_bytes().decode("utf-8-sig", errors="replace").splitlines(), dtype=pl.Utf8)
    numbered = pl.DataFrame({"line": lines}).with_row_index(SOURCE_LINE, offset=1).filter(
        pl.col("line").str.strip_chars() != "")
    rejects: list[dict[str, object]] = []
    try:
        decoded = numbered.with_columns(pl.col("line").str.json_decode(text).alias("rec"))
    except Exception:  # some line is not a JSON object, or holds a nested value: record by record
        numbered, rejects = _as_text_records(numbered, path, table, list(cols))
        decoded = numbered.with_columns(pl.col("line").str.json_decode(text).alias("rec"))
    flat = decoded.select(pl.col("rec").struct.unnest(), pl.col(SOURCE_LINE).cast(pl.Int64))
    frame = from_text_frame(with_source(flat, path, lines=flat.get_column(SOURCE_LINE)), table)
    return AdapterResult(tables={table: frame}, rejects=make_rejects(rejects),
                         files=[{"path": str(path), "format": "jsonl", "tables": [table],
                                 "rows": {table: frame.height}}])


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _as_text_records(numbered: pl.DataFrame, path: Path, table: str,
                     cols: list[str]) -> tuple[pl.DataFrame, list[dict[str, object]]]:
    """Every JSON object line re-encoded with its values as text (so a value of the wrong type keeps
    its original text into the quarantine); a line that is not a JSON object is rejected."""
    good_rows, rejects = [], []
    for no, line in numbered.select(SOURCE_LINE, "line").iter_rows():
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            rejects.append({"table": table, "source_file": str(path), "source_line": no, "checks": "jsonl parse",
                            "reason": f"{path}:{no}: invalid JSON record ({exc})", "row_json": line})
            continue
        good_rows.append((no, json.dumps({k: _text(rec.get(k)) for k in cols})))
    return pl.DataFrame(good_rows, schema={SOURCE_LINE: pl.Int64, "line": pl.Utf8}, orient="row"), rejects


def read_execlog(path: Path) -> AdapterResult:
    """One execution-log file (``.csv`` or ``.jsonl``), table recognised by content."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return read_canonical_jsonl(path, candidates=EXECLOG_TABLES)
    return read_canonical_csv(path, candidates=EXECLOG_TABLES)
