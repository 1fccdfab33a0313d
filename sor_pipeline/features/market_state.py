"""Point-in-time market state and backward as-of lookups (polars, lazy).

``mid(t)`` is the NBBO mid of the last NBBO row at or before ``t`` (never after), per DESIGN.md.
Every lookup here is a *backward* as-of join: a tick stamped after the probe time can never change
what the probe sees. Timestamps are UTC ``Datetime("ns", "UTC")``; offsets use ``time_unit="ns"``
(a bare ``pl.duration`` silently becomes microseconds).

Ties: when two NBBO (or same-venue depth) rows share a timestamp the later one in the input wins.
"""

from __future__ import annotations

import polars as pl

from schemas._types import TS_NS_UTC
from schemas.market import DEPTH_LEVELS

NS_PER_S = 1_000_000_000

#: Columns of the NBBO state table produced by :func:`nbbo_state`.
NBBO_STATE_COLUMNS = ["symbol", "ts", "bid_px", "ask_px", "mid_px", "cum_r2"]
#: Consolidated lit-book columns produced by :func:`depth_state` (shares, summed across venues).
DEPTH_STATE_COLUMNS = ["symbol", "ts", "bid_sz_5", "ask_sz_5", "bid_sz_3", "ask_sz_3"]


def lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """A LazyFrame view of ``frame``."""
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def side_sign(side: str = "side") -> pl.Expr:
    """s = +1.0 for BUY, -1.0 for SELL."""
    return pl.when(pl.col(side) == "BUY").then(1.0).otherwise(-1.0)


def offset_ns(ts: str | pl.Expr, seconds: float) -> pl.Expr:
    """``ts + seconds`` keeping ns precision (negative ``seconds`` looks back)."""
    col = pl.col(ts) if isinstance(ts, str) else ts
    return col + pl.duration(nanoseconds=round(seconds * NS_PER_S), time_unit="ns")


def nbbo_state(nbbo: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """NBBO sorted by ``ts`` with ``cum_r2``: running sum over the day of squared mid log-returns
    per symbol (dimensionless). Realized variance over ``(a, b]`` = cum_r2(b) - cum_r2(a)."""
    logm = pl.col("mid_px").log()
    return (
        lazy(nbbo)
        .select("symbol", pl.col("ts").cast(TS_NS_UTC), "bid_px", "ask_px", "mid_px")
        .sort("ts", maintain_order=True)
        .with_columns(logm.diff().pow(2).fill_null(0.0).cum_sum().over("symbol").alias("cum_r2"))
    )


def depth_state(depth: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Consolidated lit book over time per symbol: for each snapshot time, the sum across venues of
    each venue's latest snapshot at or before it. Sizes in shares: ``bid_sz_5``/``ask_sz_5`` (levels
    1..5), ``bid_sz_3``/``ask_sz_3`` (levels 1..3); missing levels count as 0.

    Computed as a running sum of per-venue changes (each snapshot minus that venue's previous one),
    so it needs no pivot over venues and stays exact in integer arithmetic."""
    def total(side: str, levels: int) -> pl.Expr:
        return pl.sum_horizontal([pl.col(f"{side}_sz_{k}").fill_null(0) for k in range(1, levels + 1)])

    cols = DEPTH_STATE_COLUMNS[2:]
    sums = {"bid_sz_5": total("bid", DEPTH_LEVELS), "ask_sz_5": total("ask", DEPTH_LEVELS),
            "bid_sz_3": total("bid", 3), "ask_sz_3": total("ask", 3)}
    return (
        lazy(depth)
        .select("symbol", "venue", pl.col("ts").cast(TS_NS_UTC), *[e.cast(pl.Int64).alias(n) for n, e in sums.items()])
        .sort("ts", maintain_order=True)
        .with_columns([(pl.col(c) - pl.col(c).shift(1, fill_value=0).over(["symbol", "venue"])).alias(c)
                       for c in cols])
        .with_columns([pl.col(c).cum_sum().over("symbol") for c in cols])
        # several snapshots at one ts: the last row carries the full state
        .group_by("symbol", "ts", maintain_order=True).agg([pl.col(c).last() for c in cols])
        .sort("ts", maintain_order=True)
    )


def asof_lookup(probes: pl.LazyFrame, state: pl.LazyFrame, *, on: str = "probe_ts") -> pl.LazyFrame:
    """Backward as-of join of ``probes`` (``symbol`` and a ns time column ``on``) to ``state``
    (``symbol``, ``ts``, ...): each probe gets the last state row with ``ts <= probe time``."""
    return (
        probes.sort(on, maintain_order=True)
        .join_asof(state, left_on=on, right_on="ts", by="symbol", strategy="backward", check_sortedness=False)
    )


def time_of_day(ts: str, timezone: str = "America/New_York") -> pl.Expr:
    """Fraction of the 09:30-16:00 session (in ``timezone``) elapsed at ``ts``, clipped to [0, 1]."""
    local = pl.col(ts).dt.convert_time_zone(timezone)
    secs = (local.dt.hour().cast(pl.Float64) * 3600.0 + local.dt.minute().cast(pl.Float64) * 60.0
            + local.dt.second().cast(pl.Float64) + local.dt.nanosecond().cast(pl.Float64) / 1e9)
    return ((secs - 9.5 * 3600.0) / (6.5 * 3600.0)).clip(0.0, 1.0)
