"""Synthetic market generation: symbol universe, venue quotes, NBBO, 5-level lit depth and trades.

Model (per symbol, all in integer ticks): a latent NBBO bid ``B`` (random walk whose daily standard
deviation is the symbol's volatility) and NBBO spread ``S >= 1`` tick change at "price events", where
every quoting venue (ECN and LIT) re-quotes; between them single venues update sizes/offsets.
Venue ``v`` quotes ``bid = B - d_bid``, ``ask = B + S + d_ask`` with ``d`` in {0, 1} tick, so the NBBO
(max bid, min ask across venues) is never crossed. Dark pools do not display. Timestamps UTC ns,
prices in currency units, sizes in shares.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from sor_pipeline.config.calendar import session_bounds
from sor_pipeline.simulation.config import DayParams, SimConfig, VenueSpec
from sor_pipeline.simulation.policy import MarketState

TS = pl.Datetime("ns", "UTC")
LEVELS = 5
P_PRICE_EVENT = 0.5


def session_bounds_ns(day: date, tz: str = "America/New_York") -> tuple[int, int]:
    """09:30 and 16:00 local time on ``day`` as UTC epoch nanoseconds."""
    o, c = session_bounds(day, tz)
    return int(o.timestamp()) * 10**9, int(c.timestamp()) * 10**9


def symbol_universe(config: SimConfig) -> pl.DataFrame:
    """K symbols with base price, ADV (shares/day), daily volatility (bps), typical spread (bps), tick.

    Depends only on ``config.seed`` (the same universe every day)."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0xC0FFEE]))
    k = config.n_symbols

    def logu(lo: float, hi: float) -> np.ndarray:
        return np.exp(rng.uniform(np.log(lo), np.log(hi), k))

    price = np.round(logu(*config.price_range), 2)
    adv = np.round(logu(*config.adv_range), -2)
    vol = logu(*config.daily_vol_bps_range)
    spread = logu(*config.spread_bps_range)
    return pl.DataFrame({
        "symbol": [f"S{i:04d}" for i in range(k)], "base_price": price, "adv": adv,
        "daily_vol_bps": vol, "spread_bps": spread, "tick": np.full(k, config.tick),
    })


def day_symbols(universe: pl.DataFrame, day_index: int, params: DayParams, seed: int) -> pl.DataFrame:
    """The day's symbol reference: opening price, ADV and volatility (regime multiplier applied)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, day_index, 0xDA7]))
    k = universe.height
    vol = universe["daily_vol_bps"].to_numpy() * params.vol_mult
    drift = rng.normal(0.0, 1.0, k) * vol / 1e4 * np.sqrt(max(day_index, 0) + 1.0)
    price = np.round(universe["base_price"].to_numpy() * np.exp(np.clip(drift, -1.0, 1.0)), 2)
    adv = np.round(universe["adv"].to_numpy() * np.exp(rng.normal(0.0, 0.2, k)), -2)
    return universe.with_columns(
        pl.Series("price", np.maximum(price, 1.0)), pl.Series("adv", np.maximum(adv, 1000.0)),
        pl.Series("daily_vol_bps", vol))


def venues_frame(venues: list[VenueSpec]) -> pl.DataFrame:
    """The canonical Venues reference table (fees in bps, + = paid, - = rebate)."""
    return pl.DataFrame({
        "venue": [v.code for v in venues], "venue_type": [v.venue_type for v in venues],
        "maker_fee_bps": [float(v.maker_fee_bps) for v in venues],
        "taker_fee_bps": [float(v.taker_fee_bps) for v in venues],
    })


def _ffill_idx(mask: np.ndarray, axis: int = 1) -> np.ndarray:
    """Index of the last True at or before each position along ``axis`` (0 if none)."""
    shape = [1] * mask.ndim
    shape[axis] = mask.shape[axis]
    idx = np.where(mask, np.arange(mask.shape[axis]).reshape(shape), 0)
    return np.maximum.accumulate(idx, axis=axis)


def _sizes(rng: np.random.Generator, scale: np.ndarray | float, shape: tuple[int, ...]) -> np.ndarray:
    """Displayed sizes, round lots of 100 shares, mean ~``scale``."""
    return (np.maximum(1, np.rint(rng.gamma(2.0, 1.0, shape) * np.asarray(scale) / 200.0)) * 100).astype(np.int64)


def generate_market(config: SimConfig, day: date, symbols: pl.DataFrame, params: DayParams,
                    rng: np.random.Generator) -> MarketState:
    """Quotes, NBBO, depth and trades for ``symbols`` (a slice of :func:`day_symbols`) on ``day``."""
    open_ns, close_ns = session_bounds_ns(day, config.timezone)
    qv = [v for v in params.venues if v.venue_type in ("ECN", "LIT")]
    nq, k = len(qv), symbols.height
    n = max(10, round(config.quote_updates_per_symbol / (P_PRICE_EVENT * nq + 1 - P_PRICE_EVENT)))
    tick = symbols["tick"].to_numpy()[:, None]
    price = symbols["price"].to_numpy()[:, None]
    vol = symbols["daily_vol_bps"].to_numpy()[:, None]

    times = np.sort(rng.integers(open_ns, close_ns - 10**9, (k, n)), axis=1)
    is_price = rng.random((k, n)) < P_PRICE_EVENT
    is_price[:, 0] = True
    step_sd = vol / 1e4 * price / tick / np.sqrt(P_PRICE_EVENT * n)
    steps = np.rint(rng.normal(0.0, 1.0, (k, n)) * step_sd) * is_price
    b0 = np.rint(price / tick)
    bid_t = np.maximum(b0 + np.cumsum(steps, axis=1), np.maximum(b0 // 4, 20))
    sp0 = np.maximum(1.0, symbols["spread_bps"].to_numpy()[:, None] * np.sqrt(params.vol_mult) * price / 1e4 / tick)
    sp_draw = np.maximum(1, np.rint(sp0 * np.exp(rng.normal(0.0, 0.3, (k, n)))))
    spread_t = np.take_along_axis(sp_draw, _ffill_idx(is_price), axis=1)

    who = rng.integers(0, nq, (k, n))
    upd = is_price[:, :, None] | (who[:, :, None] == np.arange(nq))
    behind = np.array([v.behind_p for v in qv])
    scale = np.array([v.depth_scale for v in qv])
    last = _ffill_idx(upd)
    d_bid = np.take_along_axis((rng.random((k, n, nq)) < behind).astype(np.int64), last, axis=1)
    d_ask = np.take_along_axis((rng.random((k, n, nq)) < behind).astype(np.int64), last, axis=1)
    bsz = np.take_along_axis(_sizes(rng, scale, (k, n, nq)), last, axis=1)
    asz = np.take_along_axis(_sizes(rng, scale, (k, n, nq)), last, axis=1)
    bid_tk = bid_t[:, :, None] - d_bid
    ask_tk = (bid_t + spread_t)[:, :, None] + d_ask
    bid_px = np.round(bid_tk * tick[:, :, None], 6)
    ask_px = np.round(ask_tk * tick[:, :, None], 6)

    sym = symbols["symbol"].to_numpy()
    codes = np.array([v.code for v in qv])
    kk, ii, vv = np.nonzero(upd)
    quotes = pl.DataFrame({
        "ts": times[kk, ii], "symbol": sym[kk], "venue": codes[vv],
        "bid_px": bid_px[kk, ii, vv], "bid_sz": bsz[kk, ii, vv], "ask_px": ask_px[kk, ii, vv],
        "ask_sz": asz[kk, ii, vv],
    }).with_columns(pl.col("ts").cast(TS), pl.lit(None, dtype=pl.Utf8).alias("flag")).sort("ts", maintain_order=True)

    nb_bid = bid_px.max(axis=2)
    nb_ask = ask_px.min(axis=2)
    nb_bsz = np.where(bid_px == nb_bid[:, :, None], bsz, 0).sum(axis=2)
    nb_asz = np.where(ask_px == nb_ask[:, :, None], asz, 0).sum(axis=2)
    nbbo = pl.DataFrame({
        "ts": times.ravel(), "symbol": np.repeat(sym, n), "bid_px": nb_bid.ravel(), "bid_sz": nb_bsz.ravel(),
        "ask_px": nb_ask.ravel(), "ask_sz": nb_asz.ravel(),
    }).with_columns(pl.col("ts").cast(TS), ((pl.col("bid_px") + pl.col("ask_px")) / 2).alias("mid_px"),
                    pl.lit(None, dtype=pl.Utf8).alias("flag")).sort("ts", maintain_order=True)

    lit = [j for j, v in enumerate(qv) if v.venue_type == "LIT"]
    depth = _depth(quotes, {qv[j].code: qv[j].depth_scale for j in lit}, config.tick, rng)
    trades = _trades(config, params, times, nb_bid, nb_ask, sym, rng)
    return MarketState(date=day, quotes=quotes, depth=depth, trades=trades, venues=venues_frame(params.venues),
                       nbbo=nbbo, symbols=symbols, truth=params)


def _depth(quotes: pl.DataFrame, lit_scale: dict[str, float], tick: float, rng: np.random.Generator) -> pl.DataFrame:
    """5-level snapshots of each LIT venue at each of its quote updates; level 1 = its quote."""
    q = quotes.filter(pl.col("venue").is_in(list(lit_scale)))
    m = q.height
    scale = q["venue"].replace_strict(lit_scale, return_dtype=pl.Float64).to_numpy()
    cols: dict[str, object] = {"ts": q["ts"], "symbol": q["symbol"], "venue": q["venue"]}
    bid1, ask1 = q["bid_px"].to_numpy(), q["ask_px"].to_numpy()
    for lvl in range(1, LEVELS + 1):
        off = (lvl - 1) * tick
        cols[f"bid_px_{lvl}"] = np.round(bid1 - off, 6)
        cols[f"bid_sz_{lvl}"] = q["bid_sz"] if lvl == 1 else _sizes(rng, scale * (1 + 0.3 * lvl), (m,))
        cols[f"ask_px_{lvl}"] = np.round(ask1 + off, 6)
        cols[f"ask_sz_{lvl}"] = q["ask_sz"] if lvl == 1 else _sizes(rng, scale * (1 + 0.3 * lvl), (m,))
    return pl.DataFrame(cols)


def _trades(config: SimConfig, params: DayParams, times: np.ndarray, nb_bid: np.ndarray, nb_ask: np.ndarray,
            sym: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """Public prints: at the NBBO far side for lit/ECN venues, at the mid for dark pools."""
    k = times.shape[0]
    m = config.trades_per_symbol
    t = np.sort(rng.integers(times[:, :1], times[:, -1:] + 1, (k, m)), axis=1)
    idx = np.stack([np.searchsorted(times[i], t[i], side="right") - 1 for i in range(k)])
    bid = np.take_along_axis(nb_bid, idx, axis=1)
    ask = np.take_along_axis(nb_ask, idx, axis=1)
    codes = np.array([v.code for v in params.venues])
    dark = np.array([v.venue_type == "DARK" for v in params.venues])
    w = np.where(dark, 0.5, 1.0)
    vi = rng.choice(len(codes), size=(k, m), p=w / w.sum())
    buy = rng.random((k, m)) < 0.5
    px = np.where(dark[vi], (bid + ask) / 2, np.where(buy, ask, bid))
    qty = (rng.geometric(0.35, (k, m)) * 100).astype(np.int64)
    return pl.DataFrame({
        "ts": t.ravel(), "symbol": np.repeat(sym, m), "venue": codes[vi].ravel(), "px": np.round(px.ravel(), 6),
        "qty": qty.ravel(),
    }).with_columns(pl.col("ts").cast(TS), pl.lit(None, dtype=pl.Utf8).alias("cond")).sort("ts", maintain_order=True)
