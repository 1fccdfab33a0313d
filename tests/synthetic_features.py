"""A small known generative model of Features-shaped frames and SimOracle frames, for tests.

Six venues (the default static waterfall): DRK1, DRK2 (DARK), ECNM, ECNI (ECN), LITA, LITB (LIT).
True expected slippage given a fill (bps, + = cost) and true fill probability per venue, with
``z`` = rel_size_adv in % of ADV and ``h`` = half the spread in bps::

    DRK1  p = sig(2.5 - 0.3 size_vs_top3)   s = 0.3 + 6.0 z  (best for small orders, leaks on large)
    DRK2  p = sig(0.5 - 1.5 size_vs_top3)   s = 0.5 + 1.0 z  (+7 bps once toxic)
    ECNM  p = sig(2.5 - 0.5 size_vs_top3)   s = h + 1.0 + 0.3 z
    ECNI  p = sig(1.0 - 0.5 size_vs_top3)   s = h - 3.0 + 0.5 z  (inverted: rebate to takers)
    LITA  p = 0.97                          s = h + 3.0 + 0.5 z
    LITB  p = 0.97                          s = h + 2.0 + 0.9 z

The static waterfall (first venue, DRK1) is right for small orders and wrong for large ones. The
logging policy sends a request to DRK1 with probability 0.5 and to each other venue with 0.1 (the
propensities). Observed slippage = true + 1.5 * Student-t(3) noise; filled ~ Bernoulli(p).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from schemas.features import VENUE_STAT_COLUMNS
from sor_pipeline.config.calendar import next_trading_days

VENUES: list[tuple[str, str]] = [("DRK1", "DARK"), ("DRK2", "DARK"), ("ECNM", "ECN"), ("ECNI", "ECN"),
                                 ("LITA", "LIT"), ("LITB", "LIT")]
PROPENSITY = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def true_costs(z: np.ndarray, half: np.ndarray, top3: np.ndarray, toxic: bool,
               drk2_best: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(p_fill, slippage_bps) arrays of shape (n, 6) in VENUES order. ``drk2_best``: DRK2 fills like DRK1
    and costs 2 bps less than in the table (so a router that learned the calm days sends it most)."""
    n = len(z)
    p = np.column_stack([_sig(2.5 - 0.3 * top3), _sig(2.5 - 0.3 * top3) if drk2_best else _sig(0.5 - 1.5 * top3),
                         _sig(2.5 - 0.5 * top3), _sig(1.0 - 0.5 * top3), np.full(n, 0.97), np.full(n, 0.97)])
    s = np.column_stack([0.3 + 6.0 * z, 0.5 + 1.0 * z + (7.0 if toxic else 0.0) - (2.0 if drk2_best else 0.0),
                         half + 1.0 + 0.3 * z,
                         half - 3.0 + 0.5 * z, half + 3.0 + 0.5 * z, half + 2.0 + 0.9 * z])
    return p, s


def _day(day: date, n: int, rng: np.random.Generator, toxic: bool,
         stats: dict[str, dict[str, float]] | None, drk2_best: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    z = np.exp(rng.normal(-0.7, 1.0, n)).clip(0.02, 8.0)  # % of ADV
    spread = rng.uniform(2.0, 20.0, n)
    top3 = z * rng.uniform(0.3, 1.5, n)
    p, s = true_costs(z, spread / 2, top3, toxic, drk2_best)
    lit = np.array([vt == "LIT" for _, vt in VENUES])
    fallback = s[:, lit].min(axis=1)
    exp_cost = p * s + (1 - p) * fallback[:, None]
    choice = rng.choice(len(VENUES), size=n, p=PROPENSITY)
    rows = np.arange(n)
    filled = (rng.uniform(size=n) < p[rows, choice]).astype(np.int64)
    slip = s[rows, choice] + 1.5 * rng.standard_t(3, n)
    side = rng.choice([-1.0, 1.0], n)
    is_mkt = (rng.uniform(size=n) < 0.6).astype(float)
    tod = rng.uniform(0.0, 1.0, n)
    open_ = datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC)
    sent = [open_ + timedelta(seconds=float(t * 23400)) for t in tod]
    qty = np.maximum(100, (z * 1000).astype(np.int64))
    mid = 100.0
    ids = [f"{day.isoformat()}-{i:06d}" for i in range(n)]
    venue = [VENUES[c][0] for c in choice]
    feats = pl.DataFrame({
        "child_id": ids, "parent_id": [f"P{x}" for x in ids],
        "symbol": rng.choice(["AAA", "BBB", "CCC"], n).tolist(),
        "side": ["BUY" if x > 0 else "SELL" for x in side], "venue": venue,
        "venue_type": [VENUES[c][1] for c in choice],
        "sent_ts": pl.Series(sent, dtype=pl.Datetime("us", "UTC")).cast(pl.Datetime("ns", "UTC")),
        "router_policy": ["static"] * n, "route_rank": np.ones(n, dtype=np.int64),
        "propensity": PROPENSITY[choice], "qty": qty, "arrival_mid": np.full(n, mid),
        "side_sign": side, "is_mkt": is_mkt, "is_ioc": (rng.uniform(size=n) < 0.3).astype(float),
        "urgency_code": rng.choice([0.0, 1.0, 2.0], n),
        "limit_distance_bps": np.where(is_mkt == 1.0, np.nan, rng.uniform(0, 10, n)),
        "rel_size_adv": z / 100.0, "spread_bps": spread, "imbalance_5": rng.uniform(-1, 1, n),
        "rvol_5m_bps": rng.uniform(5, 50, n), "size_vs_top3": top3, "time_of_day": tod,
    }).with_columns(pl.col("limit_distance_bps").fill_nan(None))
    for col in VENUE_STAT_COLUMNS:
        vals = [None if stats is None or v not in stats else stats[v][col] for v in venue]
        feats = feats.with_columns(pl.Series(col, vals, dtype=pl.Float64))
    f = filled == 1
    feats = feats.with_columns(
        pl.Series("filled", filled), pl.Series("fill_ratio", filled.astype(float)),
        pl.Series("filled_qty", qty * filled),
        pl.Series("avg_fill_px", np.where(f, mid * (1 + side * slip / 1e4), np.nan)).fill_nan(None),
        pl.Series("fee_bps", np.where(f, 0.0, np.nan)).fill_nan(None),
        pl.Series("arrival_slippage_bps", np.where(f, slip, np.nan)).fill_nan(None),
        pl.Series("time_to_fill_s", np.where(f, rng.exponential(2.0, n), np.nan)).fill_nan(None),
        *[pl.Series(f"markout_{h}_bps", np.where(f, rng.normal(0, 2, n), np.nan)).fill_nan(None)
          for h in ("1s", "5s", "30s", "60s")],
    ).with_columns(pl.lit(day).alias("date"))
    oracle = pl.DataFrame({
        "child_id": np.repeat(ids, len(VENUES)).tolist(),
        "venue": [v for _ in range(n) for v, _t in VENUES],
        "venue_type": [t for _ in range(n) for _v, t in VENUES],
        "p_fill": p.ravel(), "slippage_bps": s.ravel(), "fallback_bps": np.repeat(fallback, len(VENUES)),
        "expected_cost_bps": exp_cost.ravel(),
    }).with_columns(pl.lit(day).alias("date"))
    return feats, oracle


def _trailing_stats(history: list[pl.DataFrame]) -> dict[str, dict[str, float]] | None:
    if not history:
        return None
    h = pl.concat(history[-20:])
    agg = h.group_by("venue").agg(
        pl.col("filled").mean().alias("venue_fill_rate_20d"),
        pl.col("time_to_fill_s").mean().alias("venue_time_to_fill_s_20d"),
        pl.col("markout_5s_bps").mean().alias("venue_markout_5s_bps_20d"),
        pl.col("markout_60s_bps").mean().alias("venue_markout_60s_bps_20d"),
        pl.col("arrival_slippage_bps").mean().alias("venue_slippage_bps_20d"),
    )
    return {r["venue"]: r for r in agg.iter_rows(named=True)}


def make_days(start: date, n_days: int, n_requests: int = 400, seed: int = 0,
              toxic_from: date | None = None, drk2_best: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Features and SimOracle frames (both with a ``date`` column) for ``n_days`` trading days
    (``drk2_best``: see :func:`true_costs`)."""
    rng = np.random.default_rng(seed)
    feats: list[pl.DataFrame] = []
    oracles: list[pl.DataFrame] = []
    for day in next_trading_days(start, n_days):
        toxic = toxic_from is not None and day >= toxic_from
        f, o = _day(day, n_requests, rng, toxic, _trailing_stats(feats), drk2_best)
        feats.append(f)
        oracles.append(o)
    return pl.concat(feats), pl.concat(oracles)


def write_to_lake(lake: object, features: pl.DataFrame, oracle: pl.DataFrame | None = None) -> None:
    """Write the frames day by day to a sor_pipeline.storage.lake.Lake (validated like any write)."""
    for (day,), part in features.partition_by("date", as_dict=True).items():
        lake.write("features", part.drop("date"), day)  # type: ignore[attr-defined]
    if oracle is not None:
        for (day,), part in oracle.partition_by("date", as_dict=True).items():
            lake.write("sim_oracle", part.drop("date"), day)  # type: ignore[attr-defined]
