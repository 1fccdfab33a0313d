"""Builders for the monitor tests (no tests here): small canonical frames for a few trading days.

Feed sample: venues DRK1 (DARK), ECNM (ECN), LITA, LITB (LIT); symbols AAA, BBB; every quoting
venue quotes each symbol every 60 s over the 09:30-16:00 New York session; the NBBO updates every
60 s; 20 parents, 40 children (10 per venue), 30 fills. Features sample: one row per child with a
known generative model (per-venue fill probability and slippage, see :func:`features_day`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from schemas import FEATURE_COLUMNS
from sor_pipeline.storage.lake import Lake

NY = ZoneInfo("America/New_York")
DAYS = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7), date(2024, 3, 8)]
DAY = DAYS[-1]
VENUES = {"DRK1": "DARK", "ECNM": "ECN", "LITA": "LIT", "LITB": "LIT"}
QUOTING = ["ECNM", "LITA", "LITB"]
SYMBOLS = ["AAA", "BBB"]
TS = pl.Datetime("ns", "UTC")


def et(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=NY).astimezone(UTC)


def _ts(values: list[datetime]) -> pl.Series:
    return pl.Series(values, dtype=pl.Datetime("us", "UTC")).cast(TS)


def session_times(day: date, step_s: int = 60) -> list[datetime]:
    t, end, out = et(day, 9, 30), et(day, 16, 0), []
    while t <= end:
        out.append(t)
        t += timedelta(seconds=step_s)
    return out


def venues() -> pl.DataFrame:
    return pl.DataFrame({"venue": list(VENUES), "venue_type": list(VENUES.values()),
                         "maker_fee_bps": [0.1, -0.2, -0.15, -0.1], "taker_fee_bps": [0.1, 0.3, 0.3, 0.25]})


def quotes(day: date) -> pl.DataFrame:
    times = session_times(day)
    rows = [(t, s, v) for s in SYMBOLS for v in QUOTING for t in times]
    n = len(rows)
    return pl.DataFrame({
        "ts": _ts([r[0] for r in rows]), "symbol": [r[1] for r in rows], "venue": [r[2] for r in rows],
        "bid_px": np.full(n, 99.99), "bid_sz": np.full(n, 100), "ask_px": np.full(n, 100.01),
        "ask_sz": np.full(n, 100), "flag": pl.Series([None] * n, dtype=pl.String),
    })


def nbbo(day: date) -> pl.DataFrame:
    times = session_times(day)
    rows = [(t, s) for s in SYMBOLS for t in times]
    n = len(rows)
    return pl.DataFrame({
        "ts": _ts([r[0] for r in rows]), "symbol": [r[1] for r in rows], "bid_px": np.full(n, 99.99),
        "bid_sz": np.full(n, 300), "ask_px": np.full(n, 100.01), "ask_sz": np.full(n, 300),
        "mid_px": np.full(n, 100.0), "flag": pl.Series([None] * n, dtype=pl.String),
    })


def parents(day: date) -> pl.DataFrame:
    n = 20
    return pl.DataFrame({
        "parent_id": [f"P{i}" for i in range(n)], "date": [day] * n, "symbol": [SYMBOLS[i % 2] for i in range(n)],
        "side": ["BUY", "SELL"] * (n // 2), "qty": np.full(n, 1000), "order_type": ["MKT"] * n,
        "limit_px": pl.Series([None] * n, dtype=pl.Float64), "urgency": ["MEDIUM"] * n,
        "arrival_ts": _ts([et(day, 10, i) for i in range(n)]), "client_id": ["C1"] * n, "strategy": ["IS"] * n,
    })


def children(day: date) -> pl.DataFrame:
    n = 40
    vs = list(VENUES)
    return pl.DataFrame({
        "child_id": [f"C{i}" for i in range(n)], "parent_id": [f"P{i // 2}" for i in range(n)],
        "symbol": [SYMBOLS[(i // 2) % 2] for i in range(n)], "side": ["BUY" if (i // 2) % 2 == 0 else "SELL"
                                                                       for i in range(n)],
        "venue": [vs[i % 4] for i in range(n)], "order_type": ["MKT"] * n, "tif": ["IOC"] * n,
        "limit_px": pl.Series([None] * n, dtype=pl.Float64), "qty": np.full(n, 500),
        "sent_ts": _ts([et(day, 10, i // 2, 1) for i in range(n)]), "router_policy": ["static"] * n,
        "route_rank": [1 + i % 2 for i in range(n)], "propensity": np.full(n, 0.5),
        "predicted_cost_bps": pl.Series([None] * n, dtype=pl.Float64), "status": ["FILLED"] * n,
        "done_ts": _ts([et(day, 10, i // 2, 2) for i in range(n)]),
    })


def fills(day: date) -> pl.DataFrame:
    n = 30
    return pl.DataFrame({
        "exec_id": [f"E{i}" for i in range(n)], "child_id": [f"C{i}" for i in range(n)],
        "ts": _ts([et(day, 10, i // 2, 2) for i in range(n)]), "qty": np.full(n, 500),
        "px": np.full(n, 100.0), "liquidity": ["REMOVE"] * n, "fee_bps": np.full(n, 0.3),
    })


def trades(day: date) -> pl.DataFrame:
    return pl.DataFrame({"ts": _ts([et(day, 11, 0)] * 2), "symbol": SYMBOLS, "venue": ["LITA", "LITB"],
                         "px": [100.0, 100.0], "qty": [100, 200], "cond": pl.Series([None, None], dtype=pl.String)})


def depth(day: date) -> pl.DataFrame:
    row: dict[str, object] = {"ts": _ts([et(day, 11, 0)]), "symbol": ["AAA"], "venue": ["LITA"]}
    for k in range(1, 6):
        row |= {f"bid_px_{k}": [100.0 - 0.01 * k], f"bid_sz_{k}": [100], f"ask_px_{k}": [100.0 + 0.01 * k],
                f"ask_sz_{k}": [100]}
    return pl.DataFrame(row)


TABLES = {"venues": lambda d: venues(), "quotes": quotes, "nbbo": nbbo, "parent_orders": parents,
          "child_orders": children, "fills": fills, "trades": trades, "depth": depth}


def write_feed_days(lake: Lake, days: list[date] = DAYS) -> None:
    for d in days:
        for name, make in TABLES.items():
            lake.write(name, make(d), d)


# --------------------------------------------------------------------------------------------------
# features
FEATURE_VENUES = ["DRK1", "ECNM", "LITA", "LITB"]
LOG_PROPENSITY = np.array([0.4, 0.2, 0.2, 0.2])
VENUE_STATS = {"DRK1": 0.6, "ECNM": 0.8, "LITA": 0.97, "LITB": 0.97}


def true_venue_costs(top3: np.ndarray, venue_idx: np.ndarray, slip_shift: dict[str, float] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(p_fill, expected slippage given a fill, bps) of each row at venue FEATURE_VENUES[venue_idx].

    DRK1: p = 0.9 - 0.6 top3, s = 0.5 + 6 top3 (cheap for small orders); ECNM: p = 0.8, s = 2.5;
    LITA: p = 0.97, s = 3.0; LITB: p = 0.97, s = 3.5.
    """
    shift = slip_shift or {}
    p = np.select([venue_idx == 0, venue_idx == 1], [np.clip(0.9 - 0.6 * top3, 0.05, 0.95), 0.8], 0.97)
    s = np.select([venue_idx == 0, venue_idx == 1, venue_idx == 2], [0.5 + 6 * top3, 2.5, 3.0], 3.5)
    s = s + np.array([shift.get(FEATURE_VENUES[i], 0.0) for i in venue_idx])
    return p, s


def features_day(day: date, n: int = 2000, seed: int = 0, *, spread_scale: float = 1.0,
                 slip_shift: dict[str, float] | None = None) -> pl.DataFrame:
    """Features-contract frame of ``n`` children; ``spread_scale`` / ``slip_shift`` make a regime shift."""
    rng = np.random.default_rng(seed)
    vidx = rng.choice(len(FEATURE_VENUES), size=n, p=LOG_PROPENSITY)
    top3 = rng.uniform(0.0, 1.0, n)
    p, s = true_venue_costs(top3, vidx, slip_shift)
    filled = (rng.uniform(size=n) < p).astype(np.int64)
    slip = s + rng.normal(0.0, 1.0, n)
    side = rng.choice([-1.0, 1.0], n)
    tod = rng.uniform(0.0, 1.0, n)
    venue = [FEATURE_VENUES[i] for i in vidx]
    f = filled == 1
    data: dict[str, object] = {
        "child_id": [f"{day}-{i}" for i in range(n)], "parent_id": [f"{day}-P{i}" for i in range(n)],
        "symbol": rng.choice(SYMBOLS, n).tolist(), "side": ["BUY" if x > 0 else "SELL" for x in side],
        "venue": venue, "venue_type": [VENUES[v] for v in venue],
        "sent_ts": _ts([et(day, 9, 30) + timedelta(seconds=float(t * 23400)) for t in tod]),
        "router_policy": ["static"] * n, "route_rank": np.ones(n, dtype=np.int64),
        "propensity": LOG_PROPENSITY[vidx], "qty": np.full(n, 500), "arrival_mid": np.full(n, 100.0),
        "side_sign": side, "is_mkt": np.ones(n), "is_ioc": np.ones(n), "urgency_code": rng.choice([0.0, 1.0, 2.0], n),
        "limit_distance_bps": np.full(n, np.nan), "rel_size_adv": rng.lognormal(-5, 1, n),
        "spread_bps": rng.uniform(2.0, 10.0, n) * spread_scale, "imbalance_5": rng.uniform(-1, 1, n),
        "rvol_5m_bps": rng.uniform(5, 50, n), "size_vs_top3": top3, "time_of_day": tod,
        "venue_fill_rate_20d": [VENUE_STATS[v] for v in venue],
        "venue_time_to_fill_s_20d": [1.0] * n, "venue_markout_5s_bps_20d": [0.0] * n,
        "venue_markout_60s_bps_20d": [0.0] * n, "venue_slippage_bps_20d": [2.0] * n,
        "filled": filled, "fill_ratio": filled.astype(float), "filled_qty": 500 * filled,
        "avg_fill_px": np.where(f, 100.0 * (1 + side * slip / 1e4), np.nan),
        "fee_bps": np.where(f, 0.0, np.nan), "arrival_slippage_bps": np.where(f, slip, np.nan),
        "time_to_fill_s": np.where(f, 1.0, np.nan),
        **{f"markout_{h}_bps": np.where(f, 0.0, np.nan) for h in ("1s", "5s", "30s", "60s")},
    }
    frame = pl.DataFrame(data)
    frame = frame.with_columns([pl.col(c).fill_nan(None) for c, t in frame.schema.items() if t == pl.Float64])
    assert all(c in frame.columns for c in FEATURE_COLUMNS)
    return frame


def toy_score(slip_offset_bps: float = 0.0, invert: bool = False):  # type: ignore[no-untyped-def]
    """A scoring callable with the true model (+ an offset on slippage, bps); ``invert`` ranks venues
    backwards (expected cost negated), a deliberately bad router."""
    def score(frame: pl.DataFrame) -> pl.DataFrame:
        vidx = np.array([FEATURE_VENUES.index(v) for v in frame["venue"].to_list()])
        p, s = true_venue_costs(frame["size_vs_top3"].to_numpy(), vidx)
        s = s + slip_offset_bps
        fallback = 3.0 + slip_offset_bps
        cost = p * s + (1 - p) * fallback
        return frame.with_columns(pl.Series("p_fill", p), pl.Series("slippage_bps", s),
                                  pl.Series("fallback_bps", np.full(len(p), fallback)),
                                  pl.Series("expected_cost_bps", -cost if invert else cost))
    return score
