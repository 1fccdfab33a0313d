"""The true venue model: for a set of routing points (symbol, side, qty, urgency, ts) price every venue.

Everything is read from the market at or before each point's ``ts`` (as-of joins), so it works on
simulated and on real (replayed) books. Costs are arrival costs in bps of the NBBO mid at ``ts``,
fees included, + = cost; ``s`` = +1 BUY, -1 SELL.

- DARK: midpoint fill with probability ``p_event`` = fill_base * fill_mult * urgency_mult *
  exp(-(qty/ADV)/size_scale); a hit fills all (70 %) or U(30 %, 100 %) of the qty, so
  ``p_fill`` = (1 - reject_p) * p_event * 0.895 is the expected fill fraction. Fill px = mid at fill
  time moved against us by the adverse selection ``toxicity * tox_mult * (1 + 3 sqrt(1000 qty/ADV))``
  bps; ``slippage_bps`` = fee + adverse (the mid drift until the fill has mean 0).
- ECN, urgency MEDIUM/HIGH (taker IOC, REMOVE): takes the venue's displayed far touch if the quote is
  still alive (``p_event`` = fill_base * fill_mult), filling min(qty, displayed size);
  ``slippage_bps`` = s (far - mid)/mid 1e4 + taker fee.
- ECN, urgency LOW (passive post at the near touch, ADD): fills in full with probability
  passive_fill * fill_mult * exp(-(qty/ADV)/size_scale); ``slippage_bps`` = s (near - mid)/mid 1e4 + maker fee.
- LIT (marketable IOC, REMOVE): walks the venue's 5-level book; beyond the displayed depth the rest
  pays square-root impact, px = level-5 px * (1 + s impact_k vol_bps sqrt(rest/ADV) / 1e4); fills
  with certainty; ``slippage_bps`` = s (vwap - mid)/mid 1e4 + taker fee.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from sor_pipeline.learning.costs import with_fallback
from sor_pipeline.simulation.config import DayParams, SimConfig, day_params
from sor_pipeline.simulation.policy import MarketState

URGENCY_MULT = {"LOW": 1.3, "MEDIUM": 1.0, "HIGH": 0.6}
DARK_FRAC_MEAN = 0.7 + 0.3 * 0.65
LEVELS = 5
_DEFAULTS = SimConfig()

ORACLE_COLUMNS = ["child_id", "venue", "venue_type", "p_fill", "slippage_bps", "fallback_bps", "expected_cost_bps"]


def _asof(points: pl.DataFrame, right: pl.DataFrame, cols: list[str], suffix: str) -> pl.DataFrame:
    r = right.select("ts", "symbol", *[pl.col(c).alias(c + suffix) for c in cols]).sort("ts")
    return points.join_asof(r, on="ts", by="symbol", strategy="backward", check_sortedness=False)


def market_nbbo(market: MarketState) -> pl.DataFrame:
    if market.nbbo is None:
        from sor_pipeline.ingest.nbbo import build_nbbo  # the one NBBO definition (ingest uses it too)

        market.nbbo = build_nbbo(market.quotes)
    return market.nbbo


def market_symbols(market: MarketState) -> pl.DataFrame:
    """Symbol reference (adv shares/day, daily_vol_bps); estimated from the day's tape if absent."""
    if market.symbols is not None:
        return market.symbols
    nb = market_nbbo(market).filter(pl.col("flag").is_null())
    vol = nb.group_by("symbol").agg(
        (pl.col("mid_px").log().diff().std() * pl.len().sqrt() * 1e4).fill_null(200.0).alias("daily_vol_bps"))
    adv = market.trades.group_by("symbol").agg(pl.col("qty").sum().cast(pl.Float64).alias("adv"))
    syms = vol.join(adv, on="symbol", how="left").with_columns(pl.col("adv").fill_null(1e6).clip(1e4))
    market.symbols = syms
    return syms


def truth_of(market: MarketState) -> DayParams:
    return market.truth if market.truth is not None else day_params(_DEFAULTS, 0)


def price_venues(points: pl.DataFrame, market: MarketState, config: SimConfig | None = None) -> pl.DataFrame:
    """Price every venue for every point.

    ``points``: key (str), symbol, side, qty (int64 shares), urgency, ts (UTC ns).
    Returns one row per (key, venue): key, venue, venue_type, p_fill, slippage_bps, fallback_bps,
    expected_cost_bps, plus execution details: mid, p_event, px_ref, avail_sz, adverse_bps, fee_bps,
    liquidity, tif and for LIT the level fills ``lvl_px``/``lvl_qty`` (lists; the last entry is the
    impact remainder).
    """
    cfg = config or _DEFAULTS
    params = truth_of(market)
    pts = points.sort("ts")
    pts = _asof(pts, market_nbbo(market).filter(pl.col("flag").is_null()), ["bid_px", "ask_px", "mid_px"], "_nb")
    pts = pts.join(market_symbols(market).select("symbol", "adv", "daily_vol_bps"), on="symbol", how="left",
                   maintain_order="left")
    s = np.where(pts["side"].to_numpy() == "BUY", 1.0, -1.0)
    qty = pts["qty"].to_numpy().astype(np.float64)
    mid = pts["mid_px_nb"].fill_null(np.nan).to_numpy()
    adv = pts["adv"].fill_null(1e6).to_numpy()
    vol = pts["daily_vol_bps"].fill_null(200.0).to_numpy()
    x = qty / adv
    urg = pts["urgency"].to_numpy()
    urg_mult = np.select([urg == "LOW", urg == "HIGH"], [URGENCY_MULT["LOW"], URGENCY_MULT["HIGH"]], 1.0)
    far_nb = np.where(s > 0, pts["ask_px_nb"].fill_null(np.nan).to_numpy(),
                      pts["bid_px_nb"].fill_null(np.nan).to_numpy())
    n = pts.height
    keep = 1.0 - cfg.reject_p
    parts = []
    for v in params.venues:
        fm, tm = params.fill_mult.get(v.code, 1.0), params.tox_mult.get(v.code, 1.0)
        lvl_px: np.ndarray | None = None
        lvl_qty: np.ndarray | None = None
        px_ref = np.full(n, np.nan)
        avail = qty.copy()
        adverse = np.zeros(n)
        fee = np.full(n, v.taker_fee_bps)
        liq = np.full(n, "REMOVE", dtype=object)
        tif = np.full(n, "IOC", dtype=object)
        if v.venue_type == "DARK":
            p_event = np.clip(v.fill_base * fm * urg_mult * np.exp(-x / v.size_scale), 0.0, 0.98)
            p_fill = keep * p_event * DARK_FRAC_MEAN
            adverse = v.toxicity * tm * (1.0 + 3.0 * np.sqrt(1000.0 * x))
            slip = v.taker_fee_bps + adverse
            liq[:] = "MID"
            px_ref = mid
        elif v.venue_type == "ECN":
            vq = _asof(pts.select("ts", "symbol"), market.quotes.filter(pl.col("venue") == v.code),
                       ["bid_px", "bid_sz", "ask_px", "ask_sz"], "")
            bid, ask = vq["bid_px"].fill_null(np.nan).to_numpy(), vq["ask_px"].fill_null(np.nan).to_numpy()
            bsz, asz = vq["bid_sz"].fill_null(0).to_numpy(), vq["ask_sz"].fill_null(0).to_numpy()
            passive = urg == "LOW"
            far, near = np.where(s > 0, ask, bid), np.where(s > 0, bid, ask)
            avail = np.where(passive, qty, np.minimum(qty, np.where(s > 0, asz, bsz)))
            px_ref = np.where(passive, near, far)
            ok = np.isfinite(px_ref) & (avail > 0)
            p_event = np.where(passive, v.passive_fill * fm * np.exp(-x / v.size_scale), v.fill_base * fm)
            p_event = np.where(ok, np.clip(p_event, 0.0, 1.0), 0.0)
            p_fill = keep * p_event * np.where(ok, avail / qty, 0.0)
            fee = np.where(passive, v.maker_fee_bps, v.taker_fee_bps)
            liq = np.where(passive, "ADD", "REMOVE").astype(object)
            tif = np.where(passive, "DAY", "IOC").astype(object)
            slip = np.where(ok, s * (px_ref - mid) / mid * 1e4, 0.0) + fee
        else:
            lvl_px, lvl_qty, px_ref = _sweep(pts, market, v.code, s, qty, far_nb, adv, vol, cfg.impact_k)
            p_event = np.ones(n)
            p_fill = np.ones(n)
            slip = s * (px_ref - mid) / mid * 1e4 + v.taker_fee_bps
        cols: dict[str, object] = {
            "key": pts["key"], "symbol": pts["symbol"], "ts": pts["ts"], "qty": pts["qty"], "venue": v.code,
            "venue_type": v.venue_type, "p_fill": np.clip(p_fill, 0.0, 1.0),
            "slippage_bps": slip, "mid": mid, "p_event": p_event, "px_ref": px_ref,
            "avail_sz": avail.astype(np.int64), "adverse_bps": adverse, "fee_bps": fee.astype(np.float64),
            "liquidity": liq.astype(str), "tif": tif.astype(str),
            "lvl_px": lvl_px if lvl_px is not None else np.zeros((n, LEVELS + 1)),
            "lvl_qty": lvl_qty if lvl_qty is not None else np.zeros((n, LEVELS + 1), dtype=np.int64),
        }
        parts.append(pl.DataFrame(cols))
    out = pl.concat(parts, how="vertical")
    return with_fallback(out, request="key")


def _sweep(pts: pl.DataFrame, market: MarketState, venue: str, s: np.ndarray, qty: np.ndarray, far_nb: np.ndarray,
           adv: np.ndarray, vol: np.ndarray, impact_k: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk the venue's far side (5 levels) for ``qty``; the rest beyond the book pays sqrt impact.

    Returns (n, 6) level prices and quantities (levels 1..5 and the impact remainder; unused
    entries have quantity 0) and the vwap."""
    cols = [f"{side}_{w}_{lvl}" for side in ("bid", "ask") for w in ("px", "sz") for lvl in range(1, LEVELS + 1)]
    book = _asof(pts.select("ts", "symbol"), market.depth.filter(pl.col("venue") == venue), cols, "")
    n = pts.height
    buy = s > 0
    px = np.empty((n, LEVELS + 1))
    sz = np.zeros((n, LEVELS + 1))
    for lvl in range(1, LEVELS + 1):
        apx = book[f"ask_px_{lvl}"].fill_null(np.nan).to_numpy()
        bpx = book[f"bid_px_{lvl}"].fill_null(np.nan).to_numpy()
        asz = book[f"ask_sz_{lvl}"].fill_null(0).to_numpy()
        bsz = book[f"bid_sz_{lvl}"].fill_null(0).to_numpy()
        px[:, lvl - 1] = np.where(buy, apx, bpx)
        sz[:, lvl - 1] = np.where(np.isfinite(px[:, lvl - 1]), np.where(buy, asz, bsz), 0)
    cum_before = np.cumsum(sz, axis=1) - sz
    take = np.clip(qty[:, None] - cum_before, 0, sz)[:, :LEVELS]
    rest = qty - take.sum(axis=1)
    # last displayed price (or the NBBO far touch when the book is empty)
    filled_px = np.where(np.isfinite(px[:, :LEVELS]) & (sz[:, :LEVELS] > 0), px[:, :LEVELS], np.nan)
    last_px = np.where(np.isfinite(filled_px).any(axis=1),
                       np.nanmax(np.where(np.isfinite(filled_px), filled_px * s[:, None], -np.inf), axis=1) * s,
                       far_nb)
    px[:, LEVELS] = last_px * (1.0 + s * impact_k * vol * np.sqrt(rest / adv) / 1e4)
    take_all = np.concatenate([take, rest[:, None]], axis=1).astype(np.int64)
    vwap = (np.nansum(np.where(take_all > 0, px, 0.0) * take_all, axis=1)) / np.maximum(qty, 1)
    return np.where(take_all > 0, px, 0.0), take_all, vwap


def oracle_frame(priced: pl.DataFrame) -> pl.DataFrame:
    """The SimOracle columns of a :func:`price_venues` result (``key`` is the child_id)."""
    return priced.select(pl.col("key").alias("child_id"), *ORACLE_COLUMNS[1:])
