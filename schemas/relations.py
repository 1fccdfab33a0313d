"""Cross-table row checks that one table's schema cannot express alone.

Each function returns failure cases in pandera's shape: ``index`` (row position in the checked
frame), ``column``, ``check``, ``failure_case`` (as text), so the lake quarantines them like any
schema failure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

FAILURE_COLUMNS = {"index": pl.Int64, "column": pl.Utf8, "check": pl.Utf8, "failure_case": pl.Utf8}


def empty_failures() -> pl.DataFrame:
    return pl.DataFrame(schema=FAILURE_COLUMNS)


def _failures(bad: pl.DataFrame, column: str, check: str, case: pl.Expr) -> pl.DataFrame:
    return bad.select(
        pl.col("__row").cast(pl.Int64).alias("index"),
        pl.lit(column).alias("column"),
        pl.lit(check).alias("check"),
        case.cast(pl.Utf8).alias("failure_case"),
    )


def check_fills_against_children(fills: pl.DataFrame, children: pl.DataFrame) -> pl.DataFrame:
    """Fills must belong to a known child, not precede its ``sent_ts``, nor overfill it.

    Overfill: fills of a child taken in time order; the ones that push the cumulative filled
    quantity past the routed ``qty`` fail ``filled qty <= routed qty``.
    """
    kids = children.select("child_id", pl.col("sent_ts").alias("__sent_ts"), pl.col("qty").alias("__routed"))
    f = fills.with_row_index("__row").join(kids, on="child_id", how="left")
    unknown = _failures(f.filter(pl.col("__routed").is_null()), "child_id", "fill for unknown child order",
                        pl.col("child_id"))
    known = f.filter(pl.col("__routed").is_not_null())
    early = _failures(known.filter(pl.col("ts") < pl.col("__sent_ts")), "ts", "fill ts not before child sent_ts",
                      pl.col("ts").cast(pl.Utf8))
    return pl.concat([unknown, early, _overfills(known)])


def _overfills(known: pl.DataFrame) -> pl.DataFrame:
    """Fills (time order) that would take their child past its routed qty; the ones after that still
    fit are kept, so only the overfilling fills are quarantined."""
    total = pl.col("qty").sum().over("child_id")
    suspect = known.filter(total > pl.col("__routed")).sort("ts", "__row")
    rows: list[tuple[int, str]] = []
    for (_,), group in suspect.group_by(["child_id"], maintain_order=True):
        filled = 0
        for row, qty, routed in group.select("__row", "qty", "__routed").iter_rows():
            if filled + qty > routed:
                rows.append((row, f"cum {filled + qty} > routed {routed}"))
            else:
                filled += qty
    bad = pl.DataFrame(rows, schema={"__row": pl.UInt32, "__case": pl.Utf8}, orient="row")
    return _failures(bad, "qty", "filled qty per child <= routed qty", pl.col("__case"))


def check_children_venues(children: pl.DataFrame, venues: pl.DataFrame) -> pl.DataFrame:
    """Child orders must be routed to a venue listed in the day's ``venues`` table."""
    c = children.with_row_index("__row")
    known = venues.get_column("venue").implode()
    return _failures(c.filter(~pl.col("venue").is_in(known)), "venue", "child venue in venues table",
                     pl.col("venue"))


def check_children_against_parents(children: pl.DataFrame, parents: pl.DataFrame) -> pl.DataFrame:
    """Child orders must belong to a known parent with the same symbol and side."""
    p = parents.select("parent_id", pl.col("symbol").alias("__psym"), pl.col("side").alias("__pside"))
    c = children.with_row_index("__row").join(p, on="parent_id", how="left")
    unknown = _failures(c.filter(pl.col("__psym").is_null()), "parent_id", "child for unknown parent order",
                        pl.col("parent_id"))
    mismatch = _failures(
        c.filter(pl.col("__psym").is_not_null() & ((pl.col("__psym") != pl.col("symbol"))
                                                   | (pl.col("__pside") != pl.col("side")))),
        "symbol", "child symbol/side match parent", pl.format("{}/{}", pl.col("symbol"), pl.col("side")),
    )
    return pl.concat([unknown, mismatch])


def check_on_date(frame: pl.DataFrame, ts_column: str, day: object, timezone: str) -> pl.DataFrame:
    """Rows whose timestamp falls on another trading date (in ``timezone``) than ``day``.

    For a time-zone-aware column and a ``date``: the instants outside [local midnight of ``day``, local
    midnight of the next day), two comparisons per row instead of a time-zone conversion (tens of millions
    of ticks); otherwise the local date of each row, compared."""
    f = frame.with_row_index("__row")
    ts = pl.col(ts_column)
    dtype = frame.schema.get(ts_column)
    if isinstance(day, date) and isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        zone = ZoneInfo(timezone)
        start, end = (datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC) for d in (day, day + timedelta(days=1)))
        utc, unit = ts.dt.convert_time_zone("UTC"), dtype.time_unit
        other = (utc < pl.lit(start).dt.cast_time_unit(unit)) | (utc >= pl.lit(end).dt.cast_time_unit(unit))
    else:
        other = ts.dt.convert_time_zone(timezone).dt.date() != pl.lit(day)
    return _failures(f.filter(other), ts_column, f"{ts_column} on trading date {day}", ts.cast(pl.Utf8))
