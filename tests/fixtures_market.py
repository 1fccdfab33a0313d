"""Synthetic canonical trading days for feature/TCA tests and the features benchmark.

Vectorised numpy: the same generator makes a tiny multi-symbol day for unit tests and a 20 M-quote
day for ``benchmarks/features.py``. Every frame conforms to its schema in ``schemas/``; ``nbbo`` is
generated directly (the benchmark measures features, not NBBO derivation).
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

NY = ZoneInfo("America/New_York")
NS = 1_000_000_000
SESSION_NS = int(6.5 * 3600 * NS)

VENUES = pl.DataFrame({
    "venue": ["DRK1", "DRK2", "ECNM", "ECNI", "LITA", "LITB"],
    "venue_type": ["DARK", "DARK", "ECN", "ECN", "LIT", "LIT"],
    "maker_fee_bps": [0.0, 0.0, -0.2, 0.15, -0.1, -0.15],
    "taker_fee_bps": [0.1, 0.1, 0.3, -0.05, 0.3, 0.28],
})
LIT = ["LITA", "LITB", "ECNM"]


def session_open_ns(day: date) -> int:
    """09:30 America/New_York on ``day`` as UTC epoch ns."""
    return int(datetime.combine(day, time(9, 30), NY).timestamp()) * NS


def to_ts(values: np.ndarray) -> pl.Series:
    return pl.Series(values.astype(np.int64)).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")


class MidPath:
    """Per-symbol sorted NBBO mid path with backward lookup ``mid(t)`` (last row at or before t)."""

    def __init__(self, sym: np.ndarray, ts: np.ndarray, mid: np.ndarray, n_symbols: int) -> None:
        order = np.lexsort((ts, sym))
        self.sym, self.ts, self.mid = sym[order], ts[order], mid[order]
        self.start = np.searchsorted(self.sym, np.arange(n_symbols), side="left")
        self.end = np.searchsorted(self.sym, np.arange(n_symbols), side="right")

    def at(self, sym: np.ndarray, t: np.ndarray, default: np.ndarray) -> np.ndarray:
        key = np.empty(len(sym), dtype=np.int64)
        out = default.astype(np.float64).copy()
        for s in np.unique(sym):
            m = sym == s
            lo, hi = self.start[s], self.end[s]
            pos = np.searchsorted(self.ts[lo:hi], t[m], side="right") - 1
            key[m] = pos
            ok = pos >= 0
            vals = out[m]
            vals[ok] = self.mid[lo:hi][pos[ok]]
            out[m] = vals
        return out


def make_day(day: date, *, n_symbols: int = 4, n_nbbo: int = 3000, n_depth: int = 600, n_trades: int = 800,
             n_parents: int = 40, children_per_parent: int = 3, seed: int = 0) -> dict[str, pl.DataFrame]:
    """One canonical trading day: parent_orders, child_orders, fills, venues, nbbo, depth, trades."""
    rng = np.random.default_rng(seed)
    t0 = session_open_ns(day)
    symbols = np.array([f"S{i:04d}" for i in range(n_symbols)])
    p0 = rng.uniform(10, 200, n_symbols)

    # --- nbbo: per-symbol random walk, 1-3 tick spreads ------------------------------------------
    nsym = rng.integers(0, n_symbols, n_nbbo)
    nts = t0 + np.sort(rng.integers(0, SESSION_NS, n_nbbo))
    ret = rng.normal(0, 2e-4, n_nbbo)
    order = np.lexsort((nts, nsym))
    walk = np.empty(n_nbbo)
    cs = np.cumsum(ret[order])
    starts = np.searchsorted(nsym[order], np.arange(n_symbols))
    base = np.where(starts > 0, cs[np.maximum(starts - 1, 0)], 0.0)
    walk[order] = cs - base[nsym[order]]
    raw_mid = p0[nsym] * np.exp(walk)
    ticks = rng.integers(1, 4, n_nbbo)
    bid = np.round(np.floor(raw_mid * 100 - ticks / 2) / 100, 2)
    ask = np.round(bid + ticks * 0.01, 2)
    mid = (bid + ask) / 2
    nbbo = pl.DataFrame({
        "ts": to_ts(nts), "symbol": symbols[nsym], "bid_px": bid, "bid_sz": rng.integers(1, 50, n_nbbo) * 100,
        "ask_px": ask, "ask_sz": rng.integers(1, 50, n_nbbo) * 100, "mid_px": mid,
    }).with_columns(pl.lit(None, pl.String).alias("flag"))
    path = MidPath(nsym, nts, mid, n_symbols)

    # --- depth (lit venues) ----------------------------------------------------------------------
    dsym = rng.integers(0, n_symbols, n_depth)
    dts = t0 + np.sort(rng.integers(0, SESSION_NS, n_depth))
    depth: dict[str, object] = {"ts": to_ts(dts), "symbol": symbols[dsym],
                                "venue": np.array(LIT)[rng.integers(0, len(LIT), n_depth)]}
    for k in range(1, 6):
        empty = (rng.random(n_depth) < 0.1) if k == 5 else np.zeros(n_depth, bool)
        for side, sign in (("bid", -1), ("ask", 1)):
            px = np.round(p0[dsym] + sign * 0.01 * k, 2)
            sz = rng.integers(1, 50, n_depth) * 100
            depth[f"{side}_px_{k}"] = pl.Series(np.where(empty, np.nan, px)).fill_nan(None)
            depth[f"{side}_sz_{k}"] = pl.Series(sz).set(pl.Series(empty), None) if empty.any() else sz
    depth_df = pl.DataFrame(depth)

    # --- trades ---------------------------------------------------------------------------------
    tsym = rng.integers(0, n_symbols, n_trades)
    tts = t0 + np.sort(rng.integers(0, SESSION_NS, n_trades))
    trades = pl.DataFrame({
        "ts": to_ts(tts), "symbol": symbols[tsym], "venue": np.array(LIT)[rng.integers(0, len(LIT), n_trades)],
        "px": np.round(path.at(tsym, tts, p0[tsym]) + rng.normal(0, 0.01, n_trades), 4).clip(0.01),
        "qty": rng.integers(1, 20, n_trades) * 100,
    }).with_columns(pl.lit(None, pl.String).alias("cond"))

    # --- parents ----------------------------------------------------------------------------------
    psym = rng.integers(0, n_symbols, n_parents)
    pside = np.where(rng.random(n_parents) < 0.5, "BUY", "SELL")
    pmkt = rng.random(n_parents) < 0.4
    parr = t0 + rng.integers(0, SESSION_NS - 900 * NS, n_parents)
    pmid = path.at(psym, parr, p0[psym])
    plim = np.where(pmkt, np.nan, np.round(pmid * (1 + np.where(pside == "BUY", 1, -1) * 0.002), 2))
    parents = pl.DataFrame({
        "parent_id": [f"P{day:%Y%m%d}-{i:07d}" for i in range(n_parents)], "date": [day] * n_parents,
        "symbol": symbols[psym], "side": pside, "qty": rng.integers(5, 200, n_parents) * 100,
        "order_type": np.where(pmkt, "MKT", "LMT"), "limit_px": pl.Series(plim).fill_nan(None),
        "urgency": np.array(["LOW", "MEDIUM", "HIGH"])[rng.integers(0, 3, n_parents)],
        "arrival_ts": to_ts(parr), "client_id": [f"CL{i % 7}" for i in range(n_parents)],
        "strategy": np.array(["IS", "VWAP", "DARK"])[rng.integers(0, 3, n_parents)],
    })

    # --- children -----------------------------------------------------------------------------------
    n_c = n_parents * children_per_parent
    cp = np.repeat(np.arange(n_parents), children_per_parent)
    csent = parr[cp] + rng.integers(0, 600 * NS, n_c)
    cqty = rng.integers(1, 20, n_c) * 100
    cvenue = VENUES["venue"].to_numpy()[rng.integers(0, VENUES.height, n_c)]
    ctif = np.where(rng.random(n_c) < 0.6, "IOC", "DAY")

    # --- fills: 0-3 per child, inside [sent, sent + 3 s] -----------------------------------------------
    nf = rng.choice(4, n_c, p=[0.3, 0.4, 0.2, 0.1])
    fc = np.repeat(np.arange(n_c), nf)
    n_f = len(fc)
    fts = csent[fc] + rng.integers(1_000, 3 * NS, n_f)
    share = rng.uniform(0.2, 1.0, n_f) / np.maximum(nf[fc], 1)
    fqty = np.maximum((cqty[fc] * share / 100).astype(np.int64), 1) * 100
    filled = np.bincount(fc, weights=fqty, minlength=n_c).astype(np.int64)
    over = filled > cqty
    cqty = np.where(over, filled, cqty)
    fmid = path.at(psym[cp][fc], fts, p0[psym[cp][fc]])
    s = np.where(pside[cp][fc] == "BUY", 1.0, -1.0)
    liq = np.array(["ADD", "REMOVE", "MID"])[rng.integers(0, 3, n_f)]
    off = np.select([liq == "ADD", liq == "REMOVE"], [-0.005, 0.005], 0.0) + rng.normal(0, 0.003, n_f)
    fpx = np.round(fmid + s * off, 4).clip(0.01)
    fee = np.select([liq == "ADD", liq == "REMOVE"], [-0.2, 0.3], 0.1) + rng.choice([0.0, 0.05], n_f)
    last_fill = np.full(n_c, -1, dtype=np.int64)
    np.maximum.at(last_fill, fc, fts)
    status = np.where(filled == 0, np.where(rng.random(n_c) < 0.1, "REJECTED", "CANCELLED"),
                      np.where(filled >= cqty, "FILLED", "PARTIAL"))
    done = np.where(filled > 0, last_fill, csent + rng.integers(0, 2 * NS, n_c))
    open_day = (status == "PARTIAL") & (ctif == "DAY") & (rng.random(n_c) < 0.3)
    children = pl.DataFrame({
        "child_id": [f"C{day:%Y%m%d}-{i:07d}" for i in range(n_c)],
        "parent_id": parents["parent_id"].to_numpy()[cp], "symbol": symbols[psym][cp], "side": pside[cp],
        "venue": cvenue, "order_type": np.where(pmkt, "MKT", "LMT")[cp], "tif": ctif,
        "limit_px": pl.Series(plim[cp]).fill_nan(None), "qty": cqty, "sent_ts": to_ts(csent),
        "router_policy": np.array(["static", "model:3"])[rng.integers(0, 2, n_c)],
        "route_rank": rng.integers(1, 5, n_c), "propensity": rng.uniform(0.05, 1.0, n_c),
        "predicted_cost_bps": pl.Series([None] * n_c, dtype=pl.Float64), "status": status,
        "done_ts": to_ts(done).set(pl.Series(open_day), None) if open_day.any() else to_ts(done),
    })
    fills = pl.DataFrame({
        "exec_id": [f"E{day:%Y%m%d}-{i:08d}" for i in range(n_f)], "child_id": children["child_id"].to_numpy()[fc],
        "ts": to_ts(fts), "qty": fqty, "px": fpx, "liquidity": liq, "fee_bps": fee,
    })
    return {"parent_orders": parents, "child_orders": children, "fills": fills, "venues": VENUES,
            "nbbo": nbbo, "depth": depth_df, "trades": trades}


def write_day(lake: object, day: date, frames: dict[str, pl.DataFrame], validate: bool = True) -> None:
    """Write every frame of a generated day to ``lake`` (validated unless ``validate`` is False)."""
    for name, frame in frames.items():
        if validate:
            res = lake.write(name, frame, day)  # type: ignore[attr-defined]
            assert res.quarantined == 0, (name, res)
        else:
            lake.replace_partition(name, day, frame)  # type: ignore[attr-defined]
