"""OMS exports by mapping: a TOML file names, per canonical column, the source column, its codes, its
timestamp format and time zone, and its unit; files matching a table's ``files`` glob are read through
it instead of by canonical column names.

Format (see README "OMS exports by mapping")::

    [tables.child_orders]
    files = ["orders_*.csv"]          # globs inside the day's drop folder; .csv, .parquet or .jsonl
    [tables.child_orders.columns]
    child_id = "OrderRef"             # a plain source column
    side = { column = "Side", codes = { B = "BUY", S = "SELL", SS = "SELL", "1" = "BUY", "2" = "SELL" } }
    sent_ts = { column = "SentTime", format = "%Y%m%d-%H:%M:%S%.f", timezone = "America/New_York" }
    router_policy = { value = "static" }          # a constant
    [tables.fills.columns]
    fee_bps = { column = "FeePerShare", unit = "per_share" }   # bps = fee / px x 1e4 (px = the fill price)

Keys of a column spec: ``column`` (source column), ``value`` (constant instead), ``codes`` (source code
-> canonical value; a code not listed fails), ``format`` (chrono strptime format of a timestamp; default
ISO-8601), ``timezone`` (IANA zone of a naive timestamp; default UTC), ``unit`` (``fee_bps`` only:
``bps`` default, ``percent`` of notional, ``per_share`` in the price currency). Canonical columns not
named are null (an error later if the column is required).

A value the mapping cannot read keeps the row, with a parse failure naming the canonical column, the
source column and the check, and the row as the source wrote it: the lake quarantines it.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from sor_pipeline.ingest.base import (
    EXECLOG_TABLES,
    AdapterResult,
    DropError,
    canonical_columns,
    parse_ts,
    with_source,
)
from sor_pipeline.storage.validation import PARSE_FAILURES, RAW_ROW, SOURCE_FILE, SOURCE_LINE, encode_parse_failure

UNITS = ("bps", "percent", "per_share")
KEYS = {"column", "value", "codes", "format", "timezone", "unit"}


class MappingError(ValueError):
    """The mapping file is not valid; the message names the file and the key."""


class MappedFileError(MappingError, DropError):
    """A file of the drop does not fit its mapping (a named source column is missing): the day is refused
    like any unreadable drop, the message naming the file, the columns and the mapping."""


@dataclass(frozen=True)
class ColumnSpec:
    column: str | None = None
    value: str | None = None
    codes: dict[str, str] | None = None
    format: str | None = None
    timezone: str = "UTC"
    unit: str = "bps"


@dataclass
class TableMapping:
    table: str
    files: list[str]
    columns: dict[str, ColumnSpec] = field(default_factory=dict)


@dataclass
class Mapping:
    path: Path
    tables: dict[str, TableMapping]

    def table_of(self, file: Path) -> str | None:
        """The table whose ``files`` globs match ``file``'s name, if any."""
        for t in self.tables.values():
            if any(fnmatch.fnmatch(file.name, g) for g in t.files):
                return t.table
        return None


def load_mapping(path: Path | str) -> Mapping:
    """Read and check a mapping TOML; MappingError names the file and the offending key."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from exc
    tables = doc.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise MappingError(f"{path}: no [tables.<name>] section")
    out: dict[str, TableMapping] = {}
    for name, spec in tables.items():
        where = f"{path}: [tables.{name}]"
        if name not in EXECLOG_TABLES:
            raise MappingError(f"{where}: not an execution-log table ({', '.join(EXECLOG_TABLES)})")
        files = spec.get("files")
        if isinstance(files, str):
            files = [files]
        if not files or not all(isinstance(f, str) for f in files):
            raise MappingError(f"{where}: 'files' must name one or more globs")
        cols = canonical_columns(name)
        columns: dict[str, ColumnSpec] = {}
        for canon, c in (spec.get("columns") or {}).items():
            key = f"{where}.columns.{canon}"
            if canon not in cols:
                raise MappingError(f"{key}: not a column of {name} ({', '.join(cols)})")
            if isinstance(c, str):
                c = {"column": c}
            if not isinstance(c, dict) or not (set(c) <= KEYS) or ("column" in c) == ("value" in c):
                raise MappingError(f"{key}: give a source column name, or a table with exactly one of "
                                   f"'column'/'value' and optional {sorted(KEYS - {'column', 'value'})}")
            if c.get("unit", "bps") not in UNITS or ("unit" in c and canon != "fee_bps"):
                raise MappingError(f"{key}: 'unit' is for fee_bps only, one of {UNITS}")
            try:
                ZoneInfo(c.get("timezone", "UTC"))
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise MappingError(f"{key}: unknown time zone {c.get('timezone')!r}") from exc
            codes = c.get("codes")
            columns[canon] = ColumnSpec(column=c.get("column"), value=None if "value" not in c else str(c["value"]),
                                        codes={str(k): str(v) for k, v in codes.items()} if codes else None,
                                        format=c.get("format"), timezone=c.get("timezone", "UTC"),
                                        unit=c.get("unit", "bps"))
        out[name] = TableMapping(table=name, files=list(files), columns=columns)
    return Mapping(path=path, tables=out)


def _read_text(path: Path) -> pl.DataFrame:
    """Every source column as text, with ``_source_line`` (CSV: file line, data from 2; else record)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        raw = pl.read_parquet(path)
        return with_source(raw.with_columns(pl.all().cast(pl.Utf8)), path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        recs = [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        cols = list(dict.fromkeys(k for r in recs for k in r))
        frame = pl.DataFrame({c: [None if r.get(c) is None else str(r[c]) for r in recs] for c in cols},
                             schema=dict.fromkeys(cols, pl.Utf8))
        return with_source(frame, path)
    return with_source(pl.read_csv(path, infer_schema=False, encoding="utf8-lossy"), path, first_line=2)


def _ts(spec: ColumnSpec, text: pl.Expr) -> pl.Expr:
    if spec.format is None:
        naive = text.str.to_datetime(time_unit="ns", strict=False, time_zone=None)
        aware = parse_ts(text)
        local = naive.dt.replace_time_zone(spec.timezone, ambiguous="earliest", non_existent="null")
        return pl.when(text.str.contains(r"(Z|[+-]\d\d:?\d\d)$")).then(aware).otherwise(
            local.dt.convert_time_zone("UTC"))
    return (text.str.strptime(pl.Datetime("ns"), spec.format, strict=False)
            .dt.replace_time_zone(spec.timezone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC"))


def read_mapped(path: Path, mapping: Mapping) -> AdapterResult:
    """Read one source file through ``mapping`` into its canonical table (+ lineage, parse failures)."""
    path = Path(path)
    table = mapping.table_of(path)
    if table is None:
        raise MappedFileError(f"{path}: no table of {mapping.path} names this file")
    spec = mapping.tables[table]
    src = _read_text(path)
    missing = sorted({c.column for c in spec.columns.values() if c.column and c.column not in src.columns})
    if missing:
        header = [c for c in src.columns if c not in (SOURCE_FILE, SOURCE_LINE)][:20]
        raise MappedFileError(f"{path}: source column(s) {missing} named by {mapping.path} [tables.{table}] are "
                              f"not in the file (its header: {header})")
    out: list[pl.Expr] = []
    failures: list[pl.Expr] = []
    cols = canonical_columns(table)
    for name, dtype in cols.items():
        c = spec.columns.get(name)
        if c is None:
            out.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        if c.value is not None:
            text = pl.lit(c.value, dtype=pl.Utf8)
        else:
            text = pl.col(str(c.column)).str.strip_chars()
            text = pl.when(text != "").then(text)
        label = f"{name} <- {c.column!r}" if c.column else name
        value = text
        if c.codes:
            value = text.replace_strict(c.codes, default=None, return_dtype=pl.Utf8)
            failures.append(pl.when(text.is_not_null() & value.is_null()).then(encode_parse_failure(
                label, f"code not in mapping ({', '.join(sorted(c.codes))})", text)))
            text = value
        if isinstance(dtype, pl.Datetime):
            typed = _ts(c, value)
            check = f"timestamp {c.format or 'ISO-8601'} in {c.timezone}"
        elif dtype == pl.Date:
            typed = value.str.to_date(c.format or "%Y-%m-%d", strict=False)
            check = f"date {c.format or '%Y-%m-%d'}"
        elif dtype == pl.Utf8:
            typed, check = value, ""
        else:
            typed, check = value.cast(dtype, strict=False), f"parse({dtype})"
        if check and not c.codes:
            failures.append(pl.when(value.is_not_null() & typed.is_null()).then(
                encode_parse_failure(label, check, value)))
        out.append(typed.alias(name))
    frame = src.select(*out, SOURCE_FILE, SOURCE_LINE,
                       *([pl.struct([c for c in src.columns if c not in (SOURCE_FILE, SOURCE_LINE)])
                          .struct.json_encode().alias(RAW_ROW)] if failures else []),
                       *([pl.concat_str(failures, separator="\x1e", ignore_nulls=True).alias(PARSE_FAILURES)]
                         if failures else []))
    fee = spec.columns.get("fee_bps")
    if table == "fills" and fee is not None and fee.unit != "bps":
        factor = pl.lit(100.0) if fee.unit == "percent" else 1e4 / pl.col("px")
        frame = frame.with_columns((pl.col("fee_bps") * factor).alias("fee_bps"))
    if failures:
        bad = pl.col(PARSE_FAILURES).is_not_null() & (pl.col(PARSE_FAILURES) != "")
        frame = frame.with_columns(pl.when(bad).then(pl.col(PARSE_FAILURES)).alias(PARSE_FAILURES),
                                   pl.when(bad).then(pl.col(RAW_ROW)).alias(RAW_ROW))
        if frame.get_column(PARSE_FAILURES).null_count() == frame.height:
            frame = frame.drop(PARSE_FAILURES, RAW_ROW)
    return AdapterResult(tables={table: frame}, files=[{"path": str(path), "format": f"mapped ({mapping.path.name})",
                                                       "tables": [table], "rows": {table: frame.height}}])

