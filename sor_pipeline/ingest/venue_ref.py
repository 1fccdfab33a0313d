"""The venue reference dataset: a file the desk owns (CSV, ``Settings.ingest.venues``; default
``data_samples/venues.csv``), the one source of venue codes.

Columns: ``venue`` (the code the logs carry: a MIC or the desk's own), ``mic`` (ISO 10383 MIC where there
is one), ``name``, ``venue_type`` (DARK, LIT, ECN, INVERTED, RETAIL, AUCTION, OTHER), ``maker_fee_bps`` /
``taker_fee_bps`` (bps of notional, + paid / - rebate), ``active_from`` / ``active_to`` (YYYY-MM-DD,
inclusive; ``active_to`` empty = still active). A code may appear more than once with disjoint
activity periods (a fee change).

Ingest checks every child order's venue against the rows active on the trading date: an unknown or
inactive code quarantines the child (naming the code and the reference file) and, with it, its fills.
A drop without its own ``venues`` table gets the day's from the reference (INVERTED counted as ECN, the
other kinds outside DARK/ECN/LIT as LIT, in the day table's coarser type).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from schemas.relations import FAILURE_COLUMNS

REFERENCE_TYPES = ("DARK", "LIT", "ECN", "INVERTED", "RETAIL", "AUCTION", "OTHER")
COLUMNS = {"venue": pl.Utf8, "mic": pl.Utf8, "name": pl.Utf8, "venue_type": pl.Utf8, "maker_fee_bps": pl.Float64,
           "taker_fee_bps": pl.Float64, "active_from": pl.Date, "active_to": pl.Date}
#: Default reference: the repository's sample file (the simulator's venues).
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data_samples" / "venues.csv"


class VenueReferenceError(ValueError):
    """The reference file is unusable; the message names the file, line and column."""


def load_venue_reference(path: Path | str | None = None) -> pl.DataFrame:
    """Read and check the reference (all columns typed; errors name file:line, column and value)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise VenueReferenceError(f"{path}: cannot read the venue reference: {exc}") from exc
    missing = [c for c in COLUMNS if c not in raw.columns and c not in ("mic", "name", "active_to")]
    if missing:
        raise VenueReferenceError(f"{path}: missing column(s) {missing} (columns: {list(COLUMNS)})")
    for c in COLUMNS:
        if c not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.Utf8).alias(c))
    raw = raw.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_line") + 2)
    typed = raw.with_columns(
        *[pl.col(c).str.strip_chars().cast(t, strict=False) for c, t in COLUMNS.items() if t == pl.Float64],
        *[pl.col(c).str.strip_chars().str.to_date("%Y-%m-%d", strict=False) for c, t in COLUMNS.items()
          if t == pl.Date],
        pl.col("venue").str.strip_chars(), pl.col("venue_type").str.strip_chars().str.to_uppercase())
    for c, t in COLUMNS.items():
        lost = typed.filter(raw[c].is_not_null() & (raw[c].str.strip_chars() != "") & typed[c].is_null())
        if lost.height and t != pl.Utf8:
            row = lost.row(0, named=True)
            bad = raw.filter(pl.col("_line") == row["_line"])[c].item()
            raise VenueReferenceError(f"{path}:{row['_line']}: column {c}: {bad!r} is not a {t}")
    for row in typed.iter_rows(named=True):
        where = f"{path}:{row['_line']}"
        if not row["venue"]:
            raise VenueReferenceError(f"{where}: column venue is empty")
        if row["venue_type"] not in REFERENCE_TYPES:
            raise VenueReferenceError(f"{where}: column venue_type: {row['venue_type']!r} is not one of "
                                      f"{', '.join(REFERENCE_TYPES)}")
        if row["active_from"] is None:
            raise VenueReferenceError(f"{where}: column active_from is empty")
        if row["active_to"] is not None and row["active_to"] < row["active_from"]:
            raise VenueReferenceError(f"{where}: active_to {row['active_to']} before active_from")
        if row["maker_fee_bps"] is None or row["taker_fee_bps"] is None:
            raise VenueReferenceError(f"{where}: maker_fee_bps and taker_fee_bps are required")
    active = typed.sort("venue", "active_from")
    overlap = active.filter((pl.col("venue") == pl.col("venue").shift(1)) & (
        pl.col("active_from") <= pl.col("active_to").shift(1).fill_null(date.max)))
    if overlap.height:
        row = overlap.row(0, named=True)
        raise VenueReferenceError(f"{path}:{row['_line']}: venue {row['venue']} has two rows active on "
                                  f"{row['active_from']}")
    return typed.select(list(COLUMNS)).with_columns(pl.lit(str(path)).alias("_reference"))


def active_on(reference: pl.DataFrame, day: date) -> pl.DataFrame:
    """The reference rows active on ``day``."""
    return reference.filter((pl.col("active_from") <= day) & (pl.col("active_to").is_null()
                                                               | (pl.col("active_to") >= day)))


def day_venues(reference: pl.DataFrame, day: date) -> pl.DataFrame:
    """The canonical ``venues`` table of ``day`` from the reference."""
    kind = pl.col("venue_type")
    coarse = (pl.when(kind.is_in(["DARK", "ECN", "LIT"])).then(kind)
              .when(kind == "INVERTED").then(pl.lit("ECN")).otherwise(pl.lit("LIT")))
    return active_on(reference, day).select("venue", coarse.alias("venue_type"), "maker_fee_bps", "taker_fee_bps",
                                            pl.col("_reference").alias("_source_file"),
                                            pl.lit(None, pl.Int64).alias("_source_line"))


def check_children_in_reference(children: pl.DataFrame, reference: pl.DataFrame, day: date) -> pl.DataFrame:
    """Failure cases (pandera shape) for child orders whose venue is not active in the reference."""
    known = active_on(reference, day).get_column("venue").implode()
    source = str(reference.get_column("_reference").first()) if reference.height else "<empty reference>"
    bad = children.with_row_index("__row").filter(~pl.col("venue").is_in(known) & pl.col("venue").is_not_null())
    return bad.select(pl.col("__row").cast(pl.Int64).alias("index"), pl.lit("venue").alias("column"),
                      pl.lit(f"venue code in the venue reference {source} on {day.isoformat()}").alias("check"),
                      pl.col("venue").cast(pl.Utf8).alias("failure_case")).cast(FAILURE_COLUMNS)  # type: ignore[arg-type]
