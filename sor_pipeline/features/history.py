"""Trailing statistics from EARLIER trading days only (point-in-time for day ``day``).

The window is the last ``window`` trading days *with data* in the lake strictly before ``day``;
``day`` itself and anything later is never read.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from schemas.features import VENUE_STAT_COLUMNS
from sor_pipeline.storage.lake import Lake

VENUE_STATS_SCHEMA: dict[str, type[pl.DataType]] = {"venue": pl.String, **dict.fromkeys(VENUE_STAT_COLUMNS, pl.Float64)}


def window_days(lake: Lake, name: str, day: date, window: int) -> list[date]:
    """The last ``window`` dates of dataset ``name`` strictly before ``day``."""
    return [d for d in lake.dates(name) if d < day][-window:]


def adv_before(lake: Lake, day: date, window: int = 20) -> pl.DataFrame:
    """``symbol, adv``: average daily traded volume (shares/day) over the last ``window`` days of
    ``trades`` before ``day``; a day in the window without prints for a symbol counts as 0."""
    days = window_days(lake, "trades", day, window)
    if not days:
        return pl.DataFrame(schema={"symbol": pl.String, "adv": pl.Float64})
    return (lake.read("trades", days).group_by("symbol").agg((pl.col("qty").sum() / len(days)).alias("adv"))
            .with_columns(pl.col("adv").cast(pl.Float64)).sort("symbol").collect())


def venue_stats(features: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Per venue, from feature rows (with labels): fill rate = sum(filled_qty)/sum(qty) in [0, 1];
    mean time to first fill (s) over filled children; mean 5 s / 60 s markout and mean arrival
    slippage (bps, signs as in the labels) over filled children."""
    return (
        features.lazy().group_by("venue")
        .agg(
            (pl.col("filled_qty").sum() / pl.col("qty").sum()).cast(pl.Float64).alias("venue_fill_rate_20d"),
            pl.col("time_to_fill_s").mean().alias("venue_time_to_fill_s_20d"),
            pl.col("markout_5s_bps").mean().alias("venue_markout_5s_bps_20d"),
            pl.col("markout_60s_bps").mean().alias("venue_markout_60s_bps_20d"),
            pl.col("arrival_slippage_bps").mean().alias("venue_slippage_bps_20d"),
        )
        .sort("venue").collect()
    )


def venue_stats_before(lake: Lake, day: date, window: int = 20) -> pl.DataFrame:
    """Venue trailing statistics (the five ``venue_*_20d`` features) from the ``features``
    partitions of the last ``window`` days before ``day``; empty frame without history."""
    days = window_days(lake, "features", day, window)
    if not days:
        return pl.DataFrame(schema=VENUE_STATS_SCHEMA)
    cols = ["venue", "qty", "filled_qty", "time_to_fill_s", "markout_5s_bps", "markout_60s_bps",
            "arrival_slippage_bps"]
    return venue_stats(lake.read("features", days).select(cols))
