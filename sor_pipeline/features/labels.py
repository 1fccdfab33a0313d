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
from sor_pipeline.features.market_state import (
    NS_PER_S,
    AsofIndex,
    code_of,
    lazy,
    nbbo_state,
    offset_ns,
    side_sign,
    symbol_codes,
)


def markout_column(horizon_s: float) -> str:
    """``markout_1s_bps`` for 1.0, ``markout_0.05s_bps`` for 0.05."""
    return f"markout_{horizon_s:g}s_bps"


def _fill_markouts(fills: pl.DataFrame, qi: AsofIndex, horizons_s: list[float]) -> pl.DataFrame:
    """Per fill: ``_mk<i>`` = markout in bps at horizon ``i`` (null when there is no NBBO at fill_ts + h)."""
    code = code_of(fills["symbol"], qi.codes)
    s = fills.select(side_sign("side")).to_series()
    px = fills["px"]
    cols = []
    for i, h in enumerate(horizons_s):
        mid = qi.lookup(code, fills.select(offset_ns("ts", h)).to_series(), ["mid_px"]).to_series()
        cols.append((s * (mid - px) / px * 1e4).alias(f"_mk{i}"))
    return fills.with_columns(cols)


def child_labels(children: pl.DataFrame | pl.LazyFrame, fills: pl.DataFrame | pl.LazyFrame,
                 nbbo: pl.DataFrame | pl.LazyFrame | AsofIndex, horizons_s: list[float]) -> pl.LazyFrame:
    """Labels per child (``child_id``, ``side``, ``symbol``, ``qty``, ``sent_ts``, ``arrival_mid``):
    filled, fill_ratio, filled_qty, avg_fill_px, fee_bps, arrival_slippage_bps, time_to_fill_s,
    markout_<h>s_bps. Unfilled children get 0 / null labels. ``nbbo`` is the canonical frame or an
    index from :func:`~sor_pipeline.features.market_state.nbbo_state` covering the children's symbols."""
    kids = lazy(children)
    f = (lazy(fills).select("exec_id", "child_id", pl.col("ts").cast(TS_NS_UTC), "qty", "px", "fee_bps")
         .join(kids.select("child_id", "symbol", "side"), on="child_id", how="inner")).collect()
    qi = nbbo if isinstance(nbbo, AsofIndex) else nbbo_state(nbbo, symbol_codes(f))
    mcols = [markout_column(h) for h in horizons_s]
    q = pl.col("qty")

    def markout(i: int) -> pl.Expr:
        m = pl.col(f"_mk{i}")
        return (m * q).sum() / q.filter(m.is_not_null()).sum()

    per_child = (
        _fill_markouts(f, qi, horizons_s).lazy()
        .group_by("child_id")
        .agg(
            q.sum().alias("filled_qty"),
            ((q * pl.col("px")).sum() / q.sum()).alias("avg_fill_px"),
            ((q * pl.col("fee_bps")).sum() / q.sum()).alias("fee_bps"),
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
