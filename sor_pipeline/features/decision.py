"""Point-in-time routing features: the ONE implementation shared by the nightly batch, the live
router and the simulator's closed loop.

A routing request is ``request_id, symbol, side, qty, order_type, tif, limit_px, urgency,
decision_ts``; a request that already names a ``venue`` is scored for that venue only (the batch:
one child order = one decision), otherwise it is crossed with every candidate venue in ``venues``.
Everything is a backward as-of lookup at ``decision_ts`` or a trailing statistic from earlier days,
so frames holding ticks stamped after the decision never change the result.

Units and signs (``s`` = +1 BUY, -1 SELL): ``limit_distance_bps`` = s*(limit_px - mid)/mid*1e4
(+ = limit beyond the mid on our paying side, i.e. more aggressive); ``spread_bps`` = (ask-bid)/mid*1e4;
``imbalance_5`` = (bid5 - ask5)/(bid5 + ask5) in [-1, 1] on the consolidated lit book;
``rvol_5m_bps`` = sqrt(sum of squared mid log-returns over the trailing window)*1e4;
``size_vs_top3`` = qty / far-side shares in the top 3 levels (asks for a buy, bids for a sell).
"""

from __future__ import annotations

import polars as pl

from schemas._types import TS_NS_UTC
from schemas.features import FEATURE_COLUMNS, VENUE_STAT_COLUMNS
from sor_pipeline.features.market_state import (
    AsofIndex,
    BookIndex,
    code_of,
    depth_state,
    lazy,
    nbbo_state,
    side_sign,
    symbol_codes,
    time_of_day,
)

URGENCY_CODES = {"LOW": 0.0, "MEDIUM": 1.0, "HIGH": 2.0}
REQUEST_COLUMNS = ["request_id", "symbol", "side", "qty", "order_type", "tif", "limit_px", "urgency", "decision_ts"]
#: Keys and arrival state returned in front of FEATURE_COLUMNS.
KEY_COLUMNS = ["request_id", "symbol", "side", "qty", "venue", "venue_type", "decision_ts", "arrival_mid"]


def market_indexes(symbols: pl.DataFrame | pl.LazyFrame, nbbo: pl.DataFrame | pl.LazyFrame | AsofIndex,
                   depth: pl.DataFrame | pl.LazyFrame | BookIndex) -> tuple[AsofIndex, BookIndex]:
    """NBBO and consolidated-depth as-of indexes for the symbols of ``symbols`` (a frame with ``symbol``);
    an index passed in is used as it is (build it once per day and share it)."""
    codes = next((x.codes for x in (nbbo, depth) if isinstance(x, AsofIndex | BookIndex)), None)
    if codes is None:
        codes = symbol_codes(symbols)
    qi = nbbo if isinstance(nbbo, AsofIndex) else nbbo_state(nbbo, codes)
    di = depth if isinstance(depth, BookIndex) else depth_state(depth, codes)
    return qi, di


def _market_at_decision(req: pl.DataFrame, qi: AsofIndex, di: BookIndex, window_s: float) -> pl.DataFrame:
    """Per request row (same order): NBBO bid/ask/mid and ``cum_r2`` at decision_ts, ``cum_r2`` at
    decision_ts - window, and the consolidated book sizes at decision_ts."""
    ts = req["decision_ts"]
    qcode = code_of(req["symbol"], qi.codes)
    dcode = code_of(req["symbol"], di.codes)
    now, before = qi.lookup(qcode, ts, ["bid_px", "ask_px", "mid_px", "cum_r2"], offsets_s=(0.0, -window_s))
    (book,) = di.lookup(dcode, ts, ["bid_sz_5", "ask_sz_5", "bid_sz_3", "ask_sz_3"])
    return pl.concat([now, before.select(pl.col("cum_r2").alias("_cum_r2_back")), book], how="horizontal")


def _with_venues(req: pl.LazyFrame, venues: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Requests with their venue's type, or crossed with every venue (request-major, then venue order)."""
    vt = lazy(venues).select("venue", "venue_type")
    if "venue" in req.collect_schema().names():
        return req.join(vt, on="venue", how="left", maintain_order="left")
    return req.join(vt, how="cross", maintain_order="left_right")


def decision_features(
    requests: pl.DataFrame | pl.LazyFrame,
    nbbo: pl.DataFrame | pl.LazyFrame | AsofIndex,
    depth: pl.DataFrame | pl.LazyFrame | BookIndex,
    venues: pl.DataFrame | pl.LazyFrame,
    venue_stats: pl.DataFrame | pl.LazyFrame | None = None,
    adv: pl.DataFrame | pl.LazyFrame | None = None,
    *,
    rvol_window_s: float = 300.0,
    timezone: str = "America/New_York",
    extra_columns: list[str] | None = None,
) -> pl.DataFrame:
    """Features for routing requests x candidate venues, strictly from data at or before decision_ts.

    ``nbbo``/``depth`` are the canonical frames (any row order, may extend past the decisions), or
    indexes from :func:`market_indexes` built for (at least) the requests' symbols;
    ``venues`` has ``venue, venue_type``; ``venue_stats`` one row per venue with the five
    ``venue_*_20d`` columns (from :func:`venue_stats_before`); ``adv`` ``symbol, adv`` in shares/day
    (from :func:`adv_before`). Missing history gives null features. Returns KEY_COLUMNS +
    FEATURE_COLUMNS (+ ``extra_columns`` carried from ``requests``), one row per request (x venue),
    in input order."""
    extra = list(extra_columns or [])
    req = lazy(requests).with_columns(pl.col("decision_ts").cast(TS_NS_UTC)).collect()
    qi, di = market_indexes(req, nbbo, depth)
    market = _market_at_decision(req, qi, di, rvol_window_s)
    s = side_sign("side")
    mid = pl.col("mid_px")
    far3 = pl.when(pl.col("side") == "BUY").then(pl.col("ask_sz_3")).otherwise(pl.col("bid_sz_3"))
    depth5 = pl.col("bid_sz_5") + pl.col("ask_sz_5")
    rv = (pl.col("cum_r2") - pl.col("_cum_r2_back").fill_null(0.0)).clip(lower_bound=0.0)
    out = (
        pl.concat([req, market], how="horizontal").lazy()
        .with_columns(
            mid.alias("arrival_mid"),
            s.alias("side_sign"),
            (pl.col("order_type") == "MKT").cast(pl.Float64).alias("is_mkt"),
            (pl.col("tif") == "IOC").cast(pl.Float64).alias("is_ioc"),
            pl.col("urgency").replace_strict(URGENCY_CODES, default=None, return_dtype=pl.Float64)
            .alias("urgency_code"),
            pl.when(pl.col("order_type") == "LMT").then(s * (pl.col("limit_px") - mid) / mid * 1e4)
            .otherwise(None).alias("limit_distance_bps"),
            ((pl.col("ask_px") - pl.col("bid_px")) / mid * 1e4).alias("spread_bps"),
            pl.when(depth5 > 0).then((pl.col("bid_sz_5") - pl.col("ask_sz_5")) / depth5)
            .otherwise(None).alias("imbalance_5"),
            (rv.sqrt() * 1e4).alias("rvol_5m_bps"),
            pl.when(far3 > 0).then(pl.col("qty") / far3).otherwise(None).alias("size_vs_top3"),
            time_of_day("decision_ts", timezone).alias("time_of_day"),
        )
    )
    out = _with_venues(out, venues)
    if adv is not None:
        out = out.join(lazy(adv).select("symbol", "adv"), on="symbol", how="left", maintain_order="left")
    else:
        out = out.with_columns(pl.lit(None, pl.Float64).alias("adv"))
    out = out.with_columns(
        pl.when(pl.col("adv") > 0).then(pl.col("qty") / pl.col("adv")).otherwise(None).alias("rel_size_adv"))
    if venue_stats is not None:
        out = out.join(lazy(venue_stats).select("venue", *VENUE_STAT_COLUMNS), on="venue", how="left",
                       maintain_order="left")
    else:
        out = out.with_columns([pl.lit(None, pl.Float64).alias(c) for c in VENUE_STAT_COLUMNS])
    feats = [pl.col(c).cast(pl.Float64) for c in FEATURE_COLUMNS]
    # every join keeps the left order: rows come out in request order (x venue order), no sort
    return out.select(*KEY_COLUMNS, *feats, *[c for c in extra if c not in KEY_COLUMNS]).collect()
