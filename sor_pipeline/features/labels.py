"""Forward-looking labels per child order, from its fills and the NBBO path after them.

Signs (docs/DESIGN.md), ``s`` = +1 BUY, -1 SELL:
- ``arrival_slippage_bps`` = s*(avg_fill_px - arrival_mid)/arrival_mid*1e4 + fee_bps; + = cost.
- ``markout_<h>s_bps`` = s*(mid(fill_ts + h) - fill_px)/fill_px*1e4, qty-weighted over the child's
  fills (fills with no NBBO at fill_ts + h are left out of the weights); + = moved our way,
  - = adverse selection.
- ``fee_bps`` qty-weighted over fills; + = paid, - = rebate. ``time_to_fill_s`` = first fill - sent_ts.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import polars as pl

from schemas._types import TS_NS_UTC
from sor_pipeline.features.market_state import (
    NS_PER_S,
    AsofIndex,
    code_of,
    lazy,
    nbbo_state,
    side_sign,
    symbol_codes,
)

_KID = "_kid"



T = TypeVar("T", pl.Expr, np.ndarray)

def markout_column(horizon_s: float) -> str:
    """``markout_1s_bps`` for 1.0, ``markout_0.05s_bps`` for 0.05."""
    return f"markout_{horizon_s:g}s_bps"


def _fill_markouts(fills: pl.DataFrame, qi: AsofIndex, horizons_s: list[float]) -> pl.DataFrame:
    """Per fill: ``_mk<i>`` = markout in bps at horizon ``i`` (null when there is no NBBO at fill_ts + h)."""
    code = code_of(fills["symbol"], qi.codes)
    s = fills.select(side_sign("side")).to_series()
    px = fills["px"]
    mids = qi.lookup(code, fills["ts"], ["mid_px"], offsets_s=horizons_s)
    return fills.with_columns([(s * (m.to_series() - px) / px * 1e4).alias(f"_mk{i}") for i, m in enumerate(mids)])


def fill_labels(children: pl.DataFrame | pl.LazyFrame, fills: pl.DataFrame | pl.LazyFrame,
                nbbo: pl.DataFrame | pl.LazyFrame | AsofIndex, horizons_s: list[float]) -> pl.DataFrame:
    """The labels that need no arrival quote, per child (``child_id``, ``symbol``, ``side``, ``qty``,
    ``sent_ts``), one row per child in ``children`` order: child_id, filled, fill_ratio, filled_qty,
    avg_fill_px, fee_bps, time_to_fill_s, markout_<h>s_bps. Unfilled children get 0 / null labels.
    ``fills`` needs ``child_id, ts, qty, px, fee_bps``. ``nbbo`` is the canonical frame or an
    index from :func:`~sor_pipeline.features.market_state.nbbo_state` covering the children's symbols."""
    # children numbered once: fills find their child by one string join (fills keep their order), then
    # every per-child sum is a numpy bincount in fill order: deterministic to the last bit on a re-run
    kids = (lazy(children).select("child_id", "symbol", "side", "qty", pl.col("sent_ts").cast(TS_NS_UTC))
            .with_row_index(_KID).collect())
    f = (lazy(fills).select("child_id", pl.col("ts").cast(TS_NS_UTC), "qty", "px", "fee_bps")
         .join(kids.lazy().select("child_id", _KID, "symbol", "side"), on="child_id", how="inner",
               maintain_order="left")).collect()
    qi = nbbo if isinstance(nbbo, AsofIndex) else nbbo_state(nbbo, symbol_codes(f), ["mid_px"])
    f = _fill_markouts(f, qi, horizons_s)
    n = kids.height
    k = f[_KID].cast(pl.Int64).to_numpy()
    q = f["qty"].cast(pl.Float64).to_numpy()

    def per_child(weights: np.ndarray) -> np.ndarray:
        return np.bincount(k, weights=weights, minlength=n)

    def ratio(num: np.ndarray, den: np.ndarray) -> pl.Series:
        out = np.divide(num, den, out=np.full(n, np.nan), where=den > 0)
        return pl.Series(out).fill_nan(None)

    filled_q = per_child(q)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, k, f["ts"].dt.epoch("ns").to_numpy())
    first_fill = pl.Series(first).set(pl.Series(filled_q == 0), None)  # type: ignore[arg-type]
    markouts = {}
    for i, col in enumerate(markout_column(h) for h in horizons_s):
        m = f[f"_mk{i}"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        seen = ~np.isnan(m)
        markouts[col] = ratio(per_child(np.where(seen, m * q, 0.0)), per_child(np.where(seen, q, 0.0)))
    sent = kids["sent_ts"].dt.epoch("ns")
    return pl.DataFrame({
        "child_id": kids["child_id"],
        "filled": pl.Series((filled_q > 0).astype(np.int64)),
        "fill_ratio": (pl.Series(filled_q) / kids["qty"].cast(pl.Float64)).clip(0.0, 1.0),
        "filled_qty": pl.Series(np.rint(filled_q).astype(np.int64)),
        "avg_fill_px": ratio(per_child(q * f["px"].cast(pl.Float64).to_numpy()), filled_q),
        "fee_bps": ratio(per_child(q * f["fee_bps"].cast(pl.Float64).to_numpy()), filled_q),
        "time_to_fill_s": (first_fill - sent) / NS_PER_S,
        **markouts,
    })


def signed_slippage_bps(sign: T, avg_fill_px: T, arrival_mid: T, fee_bps: T) -> T:
    """sign*(avg_fill_px - arrival_mid)/arrival_mid*1e4 + fee_bps (bps; + = cost, fees included), with
    sign +1 for a buy and -1 for a sell: the one definition, on polars expressions or numpy arrays alike
    (the live router's intraday guard prices a fill as it arrives with it)."""
    return sign * (avg_fill_px - arrival_mid) / arrival_mid * 1e4 + fee_bps  # type: ignore[operator, no-any-return]


def arrival_slippage_bps(side: pl.Expr, avg_fill_px: pl.Expr, arrival_mid: pl.Expr, fee_bps: pl.Expr) -> pl.Expr:
    """s*(avg_fill_px - arrival_mid)/arrival_mid*1e4 + fee_bps (bps; + = cost, fees included)."""
    return signed_slippage_bps(side_sign(side), avg_fill_px, arrival_mid, fee_bps)


def with_arrival_slippage(labels: pl.DataFrame, side: pl.Series, arrival_mid: pl.Series) -> pl.DataFrame:
    """``labels`` (from :func:`fill_labels`) with ``arrival_slippage_bps`` after ``fee_bps``, given each
    row's side and arrival mid (row-aligned)."""
    cols = labels.columns
    at = cols.index("fee_bps") + 1
    slip = labels.select(arrival_slippage_bps(pl.lit(side), pl.col("avg_fill_px"), pl.lit(arrival_mid),
                                              pl.col("fee_bps")).alias("arrival_slippage_bps"))
    return pl.concat([labels.select(cols[:at]), slip, labels.select(cols[at:])], how="horizontal")


def child_labels(children: pl.DataFrame | pl.LazyFrame, fills: pl.DataFrame | pl.LazyFrame,
                 nbbo: pl.DataFrame | pl.LazyFrame | AsofIndex, horizons_s: list[float]) -> pl.LazyFrame:
    """Labels per child (``child_id``, ``side``, ``symbol``, ``qty``, ``sent_ts``, ``arrival_mid``):
    filled, fill_ratio, filled_qty, avg_fill_px, fee_bps, arrival_slippage_bps, time_to_fill_s,
    markout_<h>s_bps, one row per child in ``children`` order (see :func:`fill_labels`)."""
    kids = lazy(children).select("child_id", "symbol", "side", "qty", "sent_ts", "arrival_mid").collect()
    return with_arrival_slippage(fill_labels(kids, fills, nbbo, horizons_s), kids["side"], kids["arrival_mid"]).lazy()
