"""The lit fallback of logged children read from the lake: what sweeping each on the lit market at its
decision time would have cost (:mod:`sor_pipeline.learning.costs` walks the books and calibrates the
impact). One definition for the backtest's realised costs and the monitor's model checks."""

from __future__ import annotations

from datetime import date

import polars as pl

from sor_pipeline.learning.costs import book_walk, impact_coefficients, lit_fallback_bps
from sor_pipeline.storage.lake import Lake


def lit_fallback(lake: Lake, features: pl.DataFrame, days: list[date], rank1_only: bool = True
                 ) -> pl.DataFrame | None:
    """(date, child_id, fallback_bps) of the rank-1 decisions of ``days`` (every child with ``rank1_only`` False):
    the cost of sweeping each on the lit market at its decision time, from the day's displayed lit books
    (``depth``), the venues' taker fees and the square-root impact that the day's own lit sweeps show
    (:mod:`sor_pipeline.learning.costs`). None when the lake has no depth or venue data for those days.
    ``features`` rows carry ``date``. Keyed by (date, child_id): a FIX ClOrdID is unique within a day only,
    so the same id may come back on another day of the backtest."""
    out = []
    for day in days:
        if day not in lake.dates("depth") or day not in lake.dates("venues"):
            continue
        venues = lake.read("venues", [day]).collect()
        fees = {str(v): float(f or 0.0) for v, t, f in venues.select("venue", "venue_type", "taker_fee_bps").iter_rows()
                if t == "LIT"}
        # scanned, not loaded: the walk reads one venue's book at a time
        depth = lake.read("depth", [day]).filter(pl.col("venue").is_in(list(fees)))
        rows = features.filter(pl.col("date") == day)
        cols = ["child_id", "symbol", "side", "qty", "sent_ts", "arrival_mid"]
        lit = rows.filter((pl.col("venue_type") == "LIT") & (pl.col("filled") == 1)
                          & pl.col("arrival_slippage_bps").is_not_null())
        probes = rows.filter(pl.col("route_rank") == 1) if rank1_only else rows
        # one walk for the day's lit sweeps (impact calibration) and its probes: each order walks alone
        both = pl.concat([lit.select(cols), probes.select(cols)]).unique("child_id", keep="first",
                                                                          maintain_order=True)
        walked = book_walk(both, depth, fees)
        own = walked.join(lit.select("child_id", "venue", pl.col("arrival_slippage_bps").alias("realized_bps")),
                          on=["child_id", "venue"])
        walks = walked.filter(pl.col("child_id").is_in(probes["child_id"].implode()))
        out.append(lit_fallback_bps(walks, impact_coefficients(own)).select(pl.lit(day).alias("date"), pl.all()))
    return pl.concat(out) if out else None
