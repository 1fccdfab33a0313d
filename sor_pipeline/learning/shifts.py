"""Change-points in one venue's outcomes: has the venue started behaving differently in the last days?

A pool turning toxic or an ECN whose fill rate halves shows first in that venue's own daily outcomes;
recency weighting alone (:func:`sor_pipeline.learning.train.recency_weights`) lets the old regime
outvote the new one for several nights. This finds the first day of a new regime among the most recent
days of a venue's training rows, so that the rows before it can be down-weighted (the training window
shortened for that venue only).

Test, per candidate start day ``c`` (at least ``min_pre_days`` days before it, at most half the window
after it) and per outcome — the daily mean ``fill_ratio`` (share of the routed quantity filled) and the
daily mean ``arrival_slippage_bps`` of filled rows (bps, + = cost):

    z = (mean of the post-``c`` daily means - mean of the pre-``c`` daily means)
        / (sd of the pre-``c`` daily means * sqrt(1/n_post + 1/n_pre))

Days, not rows, are the units (a day's rows share its market, so a row-level z would see a shift in
every ordinary day). Only *adverse* moves count (slippage up, fill ratio down): a venue turning
costlier is the expensive surprise, while a venue that looks cheaper is often only the router sending
it different orders (measured: the first promotion moved two ECNs' mean slippage by -1.3 and -2 bps,
z -6 to -9, with no change in the venues) and recency weighting learns it in a few nights anyway. A
shift counts when ``z >= z_min`` (signed so that + = costlier) and the move is at least ``min_shift``
(``min_slippage_shift_bps`` bps, ``min_fill_shift`` of fill ratio) on every post day; the candidate with
the largest ``z`` wins. A day with fewer than ``min_rows`` rows of the outcome counts on neither side (the
candidate start day itself must have them): once the router stops sending a venue that turned costlier
its orders (the intraday guard, :mod:`sor_pipeline.serving.guard`, does within the day), the days after
hold a handful of its rows, and the shift must stay found while it is in the window. Only logged
outcomes are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

__all__ = ["SHIFT_MIN_ROWS", "Shift", "find_shift", "latest_shift"]

#: Fewest rows of an outcome for a day to count in :func:`find_shift` (a day's mean of fewer is noise).
SHIFT_MIN_ROWS = 20


@dataclass(frozen=True)
class Shift:
    """A venue's new regime: its first day, the outcome that moved, by how much (post - pre mean of
    daily means, bps for slippage, share for fill ratio) and the z of the move (+ = costlier)."""

    start: date
    outcome: str
    change: float
    z: float
    post_days: int


def _daily(frame: pl.DataFrame, min_rows: int) -> pl.DataFrame:
    filled = pl.col("filled") == 1
    return (frame.group_by("date")
            .agg(pl.col("fill_ratio").cast(pl.Float64).mean().alias("fill_ratio"),
                 pl.col("arrival_slippage_bps").filter(filled).cast(pl.Float64).mean().alias("slippage_bps"),
                 pl.len().alias("n"), filled.sum().alias("n_filled"))
            .filter(pl.col("n") >= min_rows).sort("date"))


def find_shift(frame: pl.DataFrame, *, z_min: float = 6.0, min_pre_days: int = 4,
               min_slippage_shift_bps: float = 1.0, min_fill_shift: float = 0.1,
               min_rows: int = SHIFT_MIN_ROWS) -> Shift | None:
    """The most significant recent adverse regime change of one venue's rows (``date``,
    ``fill_ratio``, ``filled``, ``arrival_slippage_bps``), or None. See the module docstring."""
    if frame.height == 0 or not {"date", "fill_ratio", "filled", "arrival_slippage_bps"} <= set(frame.columns):
        return None
    daily = _daily(frame, min_rows)
    days = daily["date"].to_list()
    best: Shift | None = None
    # (outcome, least move, row count, sign that makes + = costlier)
    outcomes = (("fill_ratio", min_fill_shift, "n", -1.0), ("slippage_bps", min_slippage_shift_bps, "n_filled", 1.0))
    for i in range(max(min_pre_days, len(days) - len(days) // 2), len(days)):
        for name, floor, count, costlier in outcomes:
            pre = daily[:i].filter(pl.col(count) >= min_rows)[name].drop_nulls().to_numpy()
            # post days with too few rows do not count (as pre days): once the router avoids a venue
            # that turned costlier, its later days hold only a handful of its rows
            post_rows = daily[i:].filter(pl.col(count) >= min_rows)
            if post_rows.height == 0 or post_rows[0, "date"] != days[i] or post_rows[name].null_count():
                continue
            post = post_rows[name].to_numpy()
            if len(pre) < min_pre_days:
                continue
            change = float(post.mean() - pre.mean())
            if not np.all(costlier * (post - pre.mean()) >= floor):
                continue
            sd = max(float(np.std(pre, ddof=1)), floor / 4.0)
            z = costlier * change / (sd * np.sqrt(1.0 / len(post) + 1.0 / len(pre)))
            if z >= z_min and (best is None or z > best.z):
                best = Shift(start=days[i], outcome=name, change=change, z=float(z), post_days=len(post))
    return best


def latest_shift(features: pl.DataFrame, z_min: float = 6.0,
                 min_rows: int = SHIFT_MIN_ROWS) -> tuple[str, Shift] | None:
    """Across venues: the most recent adverse shift (latest start; the larger z on a tie) as
    ``(venue, shift)``, or None. ``min_rows`` as in :func:`find_shift` (fewer for a part of a day)."""
    found = [(str(part["venue"][0]), sh) for part in features.partition_by("venue", maintain_order=True)
             if (sh := find_shift(part, z_min=z_min, min_rows=min_rows)) is not None]
    return max(found, key=lambda vs: (vs[1].start, vs[1].z)) if found else None
