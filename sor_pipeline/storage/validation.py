"""Validate a frame against its pandera model and split it into good rows and quarantined rows.

Row-level failures (a bad value, a duplicate id, a cross-table check) quarantine that row with every
reason it failed; the rest of the frame is kept. Frame-level failures (a missing column, a column of
the wrong type) cannot be blamed on a row: they raise :class:`ContractError`, naming the source
file(s), the table and the column.

Input frames may carry lineage columns ``_source_file`` and ``_source_line`` (1-based line or record
number), which adapters set; they end up in the quarantine record and never in the lake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandera.polars as pa
import polars as pl

from schemas import UNIQUE_KEYS, columns_of
from schemas.quarantine import Quarantine
from schemas.relations import FAILURE_COLUMNS

SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"
#: Set by adapters on rows where a source value did not parse: ``column<US>check<US>original text``
#: entries joined by ``<RS>`` (see :func:`encode_parse_failure`), and the row as read (JSON text).
PARSE_FAILURES = "_parse_failures"
RAW_ROW = "_raw_row"
LINEAGE = (SOURCE_FILE, SOURCE_LINE, PARSE_FAILURES, RAW_ROW)
_UNIT, _RECORD = "\x1f", "\x1e"


def encode_parse_failure(column: str, check: str, text: pl.Expr) -> pl.Expr:
    """One ``_parse_failures`` entry: ``column`` failed ``check`` on the original ``text``."""
    return pl.concat_str([pl.lit(f"{column}{_UNIT}{check}{_UNIT}"), text.str.replace_all(f"[{_UNIT}{_RECORD}]", " ")])


def _parse_failures(frame: pl.DataFrame) -> pl.DataFrame:
    """Failures the adapter recorded in ``_parse_failures``, in failure-case shape."""
    if PARSE_FAILURES not in frame.columns:
        return pl.DataFrame(schema=FAILURE_COLUMNS)
    parts = (frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("index"), pl.col(PARSE_FAILURES))
             .drop_nulls(PARSE_FAILURES)
             .with_columns(pl.col(PARSE_FAILURES).str.split(_RECORD)).explode(PARSE_FAILURES)
             .with_columns(pl.col(PARSE_FAILURES).str.splitn(_UNIT, 3).alias("p")))
    return parts.select(
        "index",
        pl.col("p").struct.field("field_0").alias("column"),
        pl.col("p").struct.field("field_1").alias("check"),
        pl.col("p").struct.field("field_2").alias("failure_case"),
    ).cast(FAILURE_COLUMNS)  # type: ignore[arg-type]


class ContractError(ValueError):
    """A whole frame breaks its contract (missing or mistyped column, empty required input)."""


@dataclass(frozen=True)
class Split:
    table: str
    good: pl.DataFrame
    quarantine: pl.DataFrame
    read: int
    #: rows kept, when ``good`` is not held (a table validated a chunk at a time: :class:`ChunkedSplit`)
    kept: int | None = None

    @property
    def written(self) -> int:
        return self.good.height if self.kept is None else self.kept

    @property
    def quarantined(self) -> int:
        return self.quarantine.height


def _sources(frame: pl.DataFrame) -> str:
    if SOURCE_FILE not in frame.columns:
        return "<in-memory frame>"
    files = frame.get_column(SOURCE_FILE).drop_nulls().unique().sort().to_list()
    return ", ".join(files[:5]) + (f" (+{len(files) - 5} more)" if len(files) > 5 else "") if files else "<unknown>"


def with_lineage(frame: pl.DataFrame, source_file: str | None = None, first_line: int = 1) -> pl.DataFrame:
    """Add lineage columns if absent (line = row number + ``first_line``)."""
    out = frame
    if SOURCE_FILE not in out.columns:
        out = out.with_columns(pl.lit(source_file, dtype=pl.Utf8).alias(SOURCE_FILE))
    if SOURCE_LINE not in out.columns:
        out = out.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + first_line).alias(SOURCE_LINE))
    return out


def conform(frame: pl.DataFrame, model: type[pa.DataFrameModel], table: str) -> pl.DataFrame:
    """Check required columns exist and cast them to the contract dtypes (frame-level errors raise)."""
    expected = columns_of(model)
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise ContractError(f"{_sources(frame)}: table {table!r} is missing column(s) {missing}")
    casts = []
    for name, dtype in expected.items():
        have = frame.schema[name]
        if have == dtype:
            continue
        if have == pl.Null or dtype == pl.Utf8 or (dtype.is_numeric() and (have.is_numeric() or have == pl.Utf8)):
            casts.append(pl.col(name).cast(dtype, strict=False))
        else:
            raise ContractError(
                f"{_sources(frame)}: table {table!r} column {name!r} has type {have}, expected {dtype}"
            )
    return frame.with_columns(casts) if casts else frame


def _cast_failures(before: pl.DataFrame, after: pl.DataFrame, model: type[pa.DataFrameModel]) -> pl.DataFrame:
    """Rows whose value became null by a lossy cast (e.g. '12x' as int): fail 'dtype'."""
    parts = []
    for name, dtype in columns_of(model).items():
        if before.schema[name] == dtype or before.schema[name] == pl.Null:
            continue
        lost = before.get_column(name).is_not_null() & after.get_column(name).is_null()
        if lost.any():
            idx = pl.Series("index", range(before.height), dtype=pl.Int64).filter(lost)
            parts.append(pl.DataFrame({
                "index": idx,
                "column": name,
                "check": f"dtype({dtype})",
                "failure_case": before.get_column(name).filter(lost).cast(pl.Utf8),
            }))
    return pl.concat(parts) if parts else pl.DataFrame(schema=FAILURE_COLUMNS)


def _duplicate_failures(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """Every repeat of an id after its first row fails ``unique``; the first occurrence is kept."""
    dup = frame.select(pl.col(key).is_first_distinct().not_().alias("d")).get_column("d")
    idx = pl.Series("index", range(frame.height), dtype=pl.Int64).filter(dup)
    return pl.DataFrame({
        "index": idx,
        "column": key,
        "check": f"unique({key})",
        "failure_case": frame.get_column(key).filter(dup).cast(pl.Utf8),
    }, schema=FAILURE_COLUMNS)


def _schema_failures(frame: pl.DataFrame, model: type[pa.DataFrameModel], table: str) -> pl.DataFrame:
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        frame_level = fc.filter(pl.col("index").is_null())
        if frame_level.height:
            msgs = "; ".join(f"{r['column']}: {r['check']} ({r['failure_case']})"
                             for r in frame_level.head(5).iter_rows(named=True))
            raise ContractError(f"{_sources(frame)}: table {table!r} fails its contract: {msgs}") from exc
        # uniqueness is handled by _duplicate_failures, which keeps the first occurrence
        fc = fc.filter(pl.col("check") != "field_uniqueness")
        return fc.select(
            pl.col("index").cast(pl.Int64),
            pl.col("column").cast(pl.Utf8),
            pl.col("check").cast(pl.Utf8),
            pl.col("failure_case").cast(pl.Utf8),
        )
    return pl.DataFrame(schema=FAILURE_COLUMNS)


def _reject_records(rejects: pl.DataFrame | None, table: str, stamp: datetime) -> pl.DataFrame:
    """Adapter rejects (lines that never became rows) in quarantine shape."""
    schema = columns_of(Quarantine)
    if rejects is None or rejects.height == 0:
        return pl.DataFrame(schema=schema)
    r = rejects.filter(pl.col("table") == table) if "table" in rejects.columns else rejects
    return r.select(
        pl.lit(table).alias("table"),
        pl.col("source_file").cast(pl.Utf8),
        pl.col("source_line").cast(pl.Int64),
        pl.lit(None, dtype=pl.Int64).alias("row_index"),
        pl.lit(None, dtype=pl.Utf8).alias("columns"),
        pl.col("checks").cast(pl.Utf8),
        pl.col("reason").cast(pl.Utf8),
        pl.col("row_json").cast(pl.Utf8),
        pl.lit(stamp).cast(pl.Datetime("ns", "UTC")).alias("quarantined_ts"),
    ).cast(schema)  # type: ignore[arg-type]


def _row_json(columns: list[str], schema: pl.Schema) -> pl.Expr:
    """The row as JSON; a row holding inf or NaN (which JSON cannot carry) writes its floats as text,
    so the quarantine keeps the bad value instead of a null."""
    floats = [c for c in columns if schema[c].is_float()]
    plain = pl.struct(columns).struct.json_encode()
    if not floats:
        return plain
    as_text = pl.struct([pl.col(c).cast(pl.Utf8) if c in floats else pl.col(c) for c in columns]).struct.json_encode()
    odd = pl.any_horizontal([pl.col(c).is_infinite() | pl.col(c).is_nan() for c in floats]).fill_null(False)
    return pl.when(odd).then(as_text).otherwise(plain)


def validate_split(
    frame: pl.DataFrame,
    model: type[pa.DataFrameModel],
    *,
    table: str,
    extra_failures: Sequence[pl.DataFrame] = (),
    rejects: pl.DataFrame | None = None,
    now: datetime | None = None,
) -> Split:
    """Validate eagerly and split. ``extra_failures`` are row failures from cross-table checks,
    indexed by row position of ``frame``. ``rejects`` are source lines an adapter could not parse
    into a row (columns table, source_file, source_line, checks, reason, row_json); they count as
    read and quarantined."""
    frame = with_lineage(frame)
    stamp = now or datetime.now(UTC)
    parse_rejects = _reject_records(rejects, table, stamp)
    read = frame.height + parse_rejects.height
    conformed = conform(frame, model, table)
    failures = [_parse_failures(frame), _cast_failures(frame, conformed, model)]
    key = UNIQUE_KEYS.get(table)
    if key is not None:
        failures.append(_duplicate_failures(conformed, key))
    failures.append(_schema_failures(conformed, model, table))
    failures.extend(f.select(list(FAILURE_COLUMNS)).cast(FAILURE_COLUMNS) for f in extra_failures)  # type: ignore[arg-type]
    fails = pl.concat(failures).unique(maintain_order=True)

    schema_cols = list(columns_of(model))
    if fails.height == 0:  # nothing to quarantine: the conformed frame is the good one, no copy
        quarantine = parse_rejects if parse_rejects.height else pl.DataFrame(schema=columns_of(Quarantine))
        Quarantine.validate(quarantine)
        return Split(table=table, good=conformed.select(schema_cols), quarantine=quarantine, read=read)
    bad_idx = fails.get_column("index").unique().sort()
    row_index = pl.int_range(pl.len(), dtype=pl.Int64).alias("__row")
    indexed = conformed.with_columns(row_index)
    good = indexed.filter(~pl.col("__row").is_in(bad_idx.implode())).select(schema_cols)
    bad = indexed.filter(pl.col("__row").is_in(bad_idx.implode()))

    reasons = (
        fails.with_columns(pl.format("{}: {} ({})", pl.col("column").fill_null("<row>"), "check",
                                     pl.col("failure_case").fill_null("null")).alias("r"))
        .group_by("index", maintain_order=True)
        .agg(
            pl.col("column").unique(maintain_order=True).str.join("; ").alias("columns"),
            pl.col("check").unique(maintain_order=True).str.join("; ").alias("checks"),
            pl.col("r").str.join("; ").alias("reason"),
        )
    )
    encoded = _row_json([c for c in conformed.columns if c not in LINEAGE], conformed.schema)
    if RAW_ROW in bad.columns:  # the row as the source wrote it, where a value did not parse
        encoded = pl.coalesce(pl.col(RAW_ROW), encoded)
    row_json = bad.select(
        pl.col("__row").alias("index"),
        encoded.alias("row_json"),
        pl.col(SOURCE_FILE).cast(pl.Utf8).alias("source_file"),
        pl.col(SOURCE_LINE).cast(pl.Int64).alias("source_line"),
    )
    quarantine = (
        row_json.join(reasons, on="index", how="left")
        .select(
            pl.lit(table).alias("table"),
            "source_file",
            "source_line",
            pl.col("index").alias("row_index"),
            "columns",
            "checks",
            "reason",
            "row_json",
            pl.lit(stamp).cast(pl.Datetime("ns", "UTC")).alias("quarantined_ts"),
        )
        .sort("row_index")
    )
    quarantine = pl.concat([parse_rejects, quarantine]) if parse_rejects.height else quarantine
    Quarantine.validate(quarantine)
    return Split(table=table, good=good, quarantine=quarantine, read=read)


class ChunkedSplit:
    """:func:`validate_split` a chunk of rows at a time, for a table too big to hold whole.

    :meth:`split` validates the next chunk (consecutive rows, in order) and returns its good rows at
    once; the quarantine records are kept, their ``row_index`` counted over the whole table, and
    :meth:`finish` returns the table's :class:`Split` (``good`` empty, ``kept`` the rows kept) with the
    parse rejects first, as :func:`validate_split` orders them. Every check of such a table is a row
    check, so the rows kept and quarantined (reasons included) are those of :func:`validate_split` on
    the chunks concatenated; a table with a unique key (a check across rows) is refused."""

    def __init__(self, model: type[pa.DataFrameModel], table: str, now: datetime | None = None) -> None:
        if table in UNIQUE_KEYS:
            raise ValueError(f"{table}: a table with a unique key ({UNIQUE_KEYS[table]}) is validated whole")
        self.model, self.table = model, table
        self.stamp = now or datetime.now(UTC)
        self.rows = 0
        self.kept = 0
        self._quarantine: list[pl.DataFrame] = []

    def split(self, chunk: pl.DataFrame, extra_failures: Sequence[pl.DataFrame] = ()) -> pl.DataFrame:
        """Good rows of ``chunk`` (the table's next rows); ``extra_failures`` indexed within the chunk."""
        part = validate_split(with_lineage(chunk, first_line=self.rows + 1), self.model, table=self.table,
                              extra_failures=extra_failures, now=self.stamp)
        if part.quarantine.height:
            self._quarantine.append(part.quarantine.with_columns(pl.col("row_index") + self.rows))
        self.rows += chunk.height
        self.kept += part.good.height
        return part.good

    def finish(self, rejects: pl.DataFrame | None = None) -> Split:
        """The table's split once every chunk is through; ``rejects`` as :func:`validate_split` takes them."""
        parse_rejects = _reject_records(rejects, self.table, self.stamp)
        parts = [p for p in (parse_rejects, *self._quarantine) if p.height]
        quarantine = pl.concat(parts) if parts else pl.DataFrame(schema=columns_of(Quarantine))
        Quarantine.validate(quarantine)
        return Split(table=self.table, good=pl.DataFrame(schema=columns_of(self.model)), quarantine=quarantine,
                     read=self.rows + parse_rejects.height, kept=self.kept)
