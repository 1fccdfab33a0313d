"""Trailing statistics from EARLIER trading days only (point-in-time for day ``day``).

The window is the last ``window`` trading days *with data* in the lake strictly before ``day``;
``day`` itself and anything later is never read.
"""

from __future__ import annotations

from datetime import date

import numpy as np
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


_MEANS = {"time_to_fill_s": "venue_time_to_fill_s_20d", "markout_5s_bps": "venue_markout_5s_bps_20d",
          "markout_60s_bps": "venue_markout_60s_bps_20d", "arrival_slippage_bps": "venue_slippage_bps_20d"}


def _mean(values: pl.Series) -> float | None:
    """Mean of the non-null values in row order (numpy's pairwise sum: the same bits on every run)."""
    a = values.drop_nulls().cast(pl.Float64).to_numpy()
    return float(np.sum(a) / len(a)) if len(a) else None


def venue_stats(features: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Per venue, from feature rows (with labels): fill rate = sum(filled_qty)/sum(qty) in [0, 1];
    mean time to first fill (s) over filled children; mean 5 s / 60 s markout and mean arrival
    slippage (bps, signs as in the labels) over filled children.

    The means are summed per venue in the rows' own order, not by polars' multi-threaded group-by,
    whose float sums vary in the last bit from run to run (measured: 2 of 150 runs on one window);
    the features would then differ between a night and its re-run, and so every hash and model after
    them."""
    frame = features.lazy().select("venue", "qty", "filled_qty", *_MEANS).collect()
    rows = []
    for part in frame.partition_by("venue", maintain_order=True):
        qty, filled = int(part["qty"].sum()), int(part["filled_qty"].sum())  # shares: exact integer sums
        rows.append({"venue": part["venue"][0], "venue_fill_rate_20d": filled / qty if qty else None,
                     **{out: _mean(part[col]) for col, out in _MEANS.items()}})
    return pl.DataFrame(rows, schema=VENUE_STATS_SCHEMA).sort("venue")


def venue_stats_before(lake: Lake, day: date, window: int = 20) -> pl.DataFrame:
    """Venue trailing statistics (the five ``venue_*_20d`` features) from the ``features``
    partitions of the last ``window`` days before ``day``; empty frame without history."""
    days = window_days(lake, "features", day, window)
    if not days:
        return pl.DataFrame(schema=VENUE_STATS_SCHEMA)
    cols = ["venue", "qty", "filled_qty", "time_to_fill_s", "markout_5s_bps", "markout_60s_bps",
            "arrival_slippage_bps"]
    return venue_stats(lake.read("features", days).select(cols))
