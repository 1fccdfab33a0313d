"""Parent orders and the routing requests (slices) they are worked in.

Sizes in shares (round lots of 100), relative size qty/ADV log-normal around ``rel_size_median``;
timestamps UTC ns; LMT limits are generous (100-300 bps through the far touch at arrival).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from sor_pipeline.simulation.config import SimConfig
from sor_pipeline.simulation.market import session_bounds_ns
from sor_pipeline.simulation.policy import REQUEST_SCHEMA

TS = pl.Datetime("ns", "UTC")
URGENCIES = np.array(["LOW", "MEDIUM", "HIGH"])
STRATEGIES = np.array(["IS", "VWAP", "DARK", "POV"])
#: Seconds between successive slices of one parent, by urgency.
SLICE_GAP_S = {"LOW": 120.0, "MEDIUM": 30.0, "HIGH": 5.0}


def generate_parents(config: SimConfig, day: date, symbols: pl.DataFrame, nbbo: pl.DataFrame,
                     rng: np.random.Generator, id_prefix: str = "") -> pl.DataFrame:
    """``parent_orders`` for ``symbols`` (ParentOrders schema, with ``date``)."""
    open_ns, close_ns = session_bounds_ns(day, config.timezone)
    k, m = symbols.height, config.parent_orders_per_symbol
    n = k * m
    si = np.repeat(np.arange(k), m)
    adv = symbols["adv"].to_numpy()[si]
    rel = np.clip(np.exp(rng.normal(np.log(config.rel_size_median), config.rel_size_sigma, n)), 2e-6, 0.05)
    qty = np.maximum(1, np.rint(rel * adv / 100.0)).astype(np.int64) * 100
    side = np.where(rng.random(n) < 0.5, "BUY", "SELL")
    otype = np.where(rng.random(n) < 0.4, "MKT", "LMT")
    urgency = URGENCIES[rng.choice(3, n, p=[0.3, 0.45, 0.25])]
    arrival = rng.integers(open_ns + 300 * 10**9, close_ns - 900 * 10**9, n)
    sym = symbols["symbol"].to_numpy()[si]
    frame = pl.DataFrame({"symbol": sym, "arrival": arrival, "side": side}).with_columns(
        pl.col("arrival").cast(TS).alias("ts"), pl.int_range(pl.len()).alias("row"))
    nb = nbbo.filter(pl.col("flag").is_null()).select("ts", "symbol", "bid_px", "ask_px").sort("ts")
    at = frame.sort("ts").join_asof(nb, on="ts", by="symbol", strategy="backward",
                                    check_sortedness=False).sort("row")
    far = np.where(side == "BUY", at["ask_px"].fill_null(np.nan).to_numpy(), at["bid_px"].fill_null(np.nan).to_numpy())
    s = np.where(side == "BUY", 1.0, -1.0)
    limit = np.round(far * (1.0 + s * rng.uniform(100, 300, n) / 1e4), 2)
    limit_px = np.where((otype == "LMT") & np.isfinite(limit), limit, np.nan)
    otype = np.where(np.isfinite(limit_px), otype, "MKT")
    day_tag = day.strftime("%Y%m%d")
    ids = [f"P{day_tag}-{id_prefix}{sym[i]}-{i % m:05d}" for i in range(n)]
    return pl.DataFrame({
        "parent_id": ids, "date": [day] * n, "symbol": sym, "side": side, "qty": qty, "order_type": otype,
        "limit_px": limit_px, "urgency": urgency, "arrival_ts": arrival,
        "client_id": [f"C{c:03d}" for c in rng.integers(1, 40, n)],
        "strategy": STRATEGIES[rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])],
    }).with_columns(pl.col("arrival_ts").cast(TS), pl.col("limit_px").fill_nan(None),
                    pl.col("date").cast(pl.Date))


def slice_requests(config: SimConfig, parents: pl.DataFrame, day: date, rng: np.random.Generator) -> pl.DataFrame:
    """Split each parent into 1..``max_slices`` routing requests (REQUEST_SCHEMA), spaced by urgency."""
    _, close_ns = session_bounds_ns(day, config.timezone)
    n = parents.height
    qty = parents["qty"].to_numpy()
    lots = qty // 100
    n_sl = np.minimum(rng.integers(1, config.max_slices + 1, n), np.maximum(lots, 1))
    rows = np.repeat(np.arange(n), n_sl)
    j = np.arange(rows.size) - np.repeat(np.cumsum(n_sl) - n_sl, n_sl)
    per = (lots[rows] // n_sl[rows]) * 100
    last = j == n_sl[rows] - 1
    rq = np.where(last, qty[rows] - per * (n_sl[rows] - 1), per)
    urg = parents["urgency"].to_numpy()[rows]
    gap = np.select([urg == "LOW", urg == "HIGH"], [SLICE_GAP_S["LOW"], SLICE_GAP_S["HIGH"]], SLICE_GAP_S["MEDIUM"])
    jitter = rng.uniform(0.0, 0.5, rows.size) * gap * (j > 0)
    t = parents["arrival_ts"].cast(pl.Int64).to_numpy()[rows] + ((j * gap + jitter) * 1e9).astype(np.int64)
    t = np.minimum(t, close_ns - 60 * 10**9)
    pid = parents["parent_id"].to_numpy()[rows]
    p = parents[rows.tolist()] if n else parents
    return pl.DataFrame({
        "request_id": [f"{a}-R{b}" for a, b in zip(pid, j, strict=True)],
        "parent_id": pid, "symbol": p["symbol"], "side": p["side"], "qty": rq.astype(np.int64),
        "order_type": p["order_type"], "tif": ["IOC"] * rows.size, "limit_px": p["limit_px"],
        "urgency": urg, "decision_ts": t,
    }).with_columns(pl.col("decision_ts").cast(TS)).cast(REQUEST_SCHEMA)  # type: ignore[arg-type]
