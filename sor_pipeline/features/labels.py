"""Forward-looking labels per child order, from its fills and the NBBO path after them.

Signs (DESIGN.md), ``s`` = +1 BUY, -1 SELL:
- ``arrival_slippage_bps`` = s*(avg_fill_px - arrival_mid)/arrival_mid*1e4 + fee_bps; + = cost.
- ``markout_<h>s_bps`` = s*(mid(fill_ts + h) - fill_px)/fill_px*1e4, qty-weighted over the child's
  fills (fills with no NBBO at fill_ts + h are left out of the weights); + = moved our way,
  - = adverse selection.
- ``fee_bps`` qty-weighted over fills; + = paid, - = rebate. ``time_to_fill_s`` = first fill - sent_ts.
"""

from __future__ import annotations

import polars as pl

from schemas._types import TS_NS_UTC
from sor_pipeline.features.market_state import NS_PER_S, lazy, offset_ns, side_sign


def markout_column(horizon_s: float) -> str:
    """``markout_1s_bps`` for 1.0, ``markout_0.05s_bps`` for 0.05."""
    return f"markout_{horizon_s:g}s_bps"


def _fill_probes(fills: pl.LazyFrame, nbbo: pl.DataFrame | pl.LazyFrame, horizons_s: list[float]) -> pl.LazyFrame:
    """One row per (fill, horizon index ``_h``) with the fill's markout ``_mk`` in bps (one as-of join)."""
    probes = pl.concat([
        fills.with_columns(offset_ns("ts", h).alias("probe_ts"), pl.lit(i, pl.Int32).alias("_h"))
        for i, h in enumerate(horizons_s)
    ])
    state = lazy(nbbo).select("symbol", pl.col("ts").cast(TS_NS_UTC).alias("_qts"), "mid_px").sort("_qts")
    hit = probes.sort("probe_ts").join_asof(state, left_on="probe_ts", right_on="_qts", by="symbol",
                                            strategy="backward", check_sortedness=False)
    return hit.with_columns((side_sign("side") * (pl.col("mid_px") - pl.col("px")) / pl.col("px") * 1e4).alias("_mk"))


def child_labels(children: pl.DataFrame | pl.LazyFrame, fills: pl.DataFrame | pl.LazyFrame,
                 nbbo: pl.DataFrame | pl.LazyFrame, horizons_s: list[float]) -> pl.LazyFrame:
    """Labels per child (``child_id``, ``side``, ``symbol``, ``qty``, ``sent_ts``, ``arrival_mid``):
    filled, fill_ratio, filled_qty, avg_fill_px, fee_bps, arrival_slippage_bps, time_to_fill_s,
    markout_<h>s_bps. Unfilled children get 0 / null labels."""
    kids = lazy(children)
    f = (lazy(fills).select("exec_id", "child_id", pl.col("ts").cast(TS_NS_UTC), "qty", "px", "fee_bps")
         .join(kids.select("child_id", "symbol", "side"), on="child_id", how="inner"))
    mcols = [markout_column(h) for h in horizons_s]
    first = pl.col("_h") == 0  # every fill appears once per horizon: aggregate fill facts on one of them
    q = pl.col("qty").filter(first)

    def markout(i: int) -> pl.Expr:
        m = pl.col("_mk").filter(pl.col("_h") == i)
        w = pl.col("qty").filter((pl.col("_h") == i) & pl.col("_mk").is_not_null())
        return (m * pl.col("qty").filter(pl.col("_h") == i)).sum() / w.sum()

    per_child = (
        _fill_probes(f, nbbo, horizons_s)
        .group_by("child_id")
        .agg(
            q.sum().alias("filled_qty"),
            ((q * pl.col("px").filter(first)).sum() / q.sum()).alias("avg_fill_px"),
            ((q * pl.col("fee_bps").filter(first)).sum() / q.sum()).alias("fee_bps"),
            pl.col("ts").min().alias("_first_fill_ts"),
            *[markout(i).alias(c) for i, c in enumerate(mcols)],
        )
    )
    s = side_sign("side")
    mid = pl.col("arrival_mid")
    return (
        kids.select("child_id", "side", "qty", pl.col("sent_ts").cast(TS_NS_UTC), "arrival_mid")
        .join(per_child, on="child_id", how="left")
        .with_columns(pl.col("filled_qty").fill_null(0))
        .select(
            "child_id",
            (pl.col("filled_qty") > 0).cast(pl.Int64).alias("filled"),
            (pl.col("filled_qty") / pl.col("qty")).clip(0.0, 1.0).alias("fill_ratio"),
            pl.col("filled_qty").cast(pl.Int64),
            "avg_fill_px",
            "fee_bps",
            (s * (pl.col("avg_fill_px") - mid) / mid * 1e4 + pl.col("fee_bps")).alias("arrival_slippage_bps"),
            ((pl.col("_first_fill_ts") - pl.col("sent_ts")).dt.total_nanoseconds() / NS_PER_S).alias("time_to_fill_s"),
            *mcols,
        )
    )
