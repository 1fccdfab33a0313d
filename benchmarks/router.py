"""Benchmark: live-router latency (order + snapshot -> ranked venues + allocation) vs the MLflow pyfunc.

    uv run --frozen python benchmarks/router.py [--orders 100000] [--venues 8] [--trees 150] [--depth 4]
        [--train-rows 12000] [--baseline-orders 300] [--batch 10000] [--full-trees] [--model-dir DIR]
        [--small] [--json]

Trains a realistic per-venue model set (a fill classifier and a slippage regressor per venue, with the
nightly's TrainConfig: at most ``--trees`` trees of depth ``--depth``, early stopping; ``--full-trees``
for the worst case where every booster has ``--trees`` trees) on synthetic data, or loads a RouterModel
folder (``--model-dir``). Then, on one thread:

- ``route``: per-order latency of :meth:`LiveRouter.route` (online features, compiled kernel for both
  models of every venue, expected cost, ranking, dynamic waterfall), µs p50/p99/p99.9 over ``--orders``
  orders (setup objects frozen out of the GC, GC disabled in the timed loop, as in a trading
  process; 2,000 warm-up orders first);
  ``cpu_*_us``: the same percentiles of on-CPU (thread) time, which excludes preemption by other
  processes on a shared machine (``load_avg_1m`` is printed too);
- ``orders_per_s``: orders/s of the columnar API :meth:`LiveRouter.route_columns` (arrays in: order and
  snapshot columns; arrays out: ranked venues, costs, allocation legs, propensity) in chunks of
  ``--batch``, end to end with the live router's exploration (``Settings().router`` defaults: softmax
  over expected costs, floor, explored rows re-allocated); the columns are built once outside the timing;
  ``orders_per_cpu_s`` the same on on-CPU (thread) time, which a shared machine's load does not inflate;
- ``batch_orders_per_s``: orders/s of the object batch API :meth:`LiveRouter.route_batch` (Route objects);
- ``baseline``: the same scoring through the plain MLflow pyfunc (the model logged to a temporary
  sqlite store via sor_pipeline.storage.registry, loaded with ``mlflow.pyfunc.load_model``): per order, the
  candidate frame (request_id, venue, features) -> ``predict`` -> cheapest venue, on
  ``--baseline-orders`` orders; and ``xgboost``: ``Booster.inplace_predict`` per venue and model.

The speedup is baseline p50 / route p50. With ``--json`` the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from schemas.features import FEATURE_COLUMNS  # noqa: E402
from sor_pipeline.config.settings import Settings  # noqa: E402
from sor_pipeline.learning import RouterModel, TrainConfig, train_router  # noqa: E402
from sor_pipeline.serving import LiveRouter, MarketSnapshot, Order, ReferenceScorer  # noqa: E402
from sor_pipeline.serving.columnar import OrderColumns, SnapshotColumns  # noqa: E402

VENUES = [("DRK1", "DARK"), ("DRK2", "DARK"), ("DRK3", "DARK"), ("ECNM", "ECN"), ("ECNI", "ECN"),
          ("ECNX", "ECN"), ("LITA", "LIT"), ("LITB", "LIT"), ("LITC", "LIT"), ("LITD", "LIT")]
T0 = 1_709_649_000 * 10**9  # 2024-03-05 14:30 UTC = 09:30 New York


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def synthetic_features(venues: list[tuple[str, str]], rows: int, seed: int) -> pl.DataFrame:
    """Features-shaped training rows: per venue, fills and slippage with venue-specific structure."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, (venue, vtype) in enumerate(venues):
        n = rows
        z = np.exp(rng.normal(-0.7, 1.0, n)).clip(0.02, 8.0)  # % of ADV
        spread = rng.uniform(1.0, 25.0, n)
        top3 = z * rng.uniform(0.3, 1.5, n)
        rvol = rng.uniform(3.0, 60.0, n)
        imb = rng.uniform(-1, 1, n)
        side = rng.choice([-1.0, 1.0], n)
        is_mkt = (rng.uniform(size=n) < 0.6).astype(float)
        lim = np.where(is_mkt == 1.0, np.nan, rng.uniform(-5, 15, n))
        tod = rng.uniform(0.0, 1.0, n)
        urg = rng.choice([0.0, 1.0, 2.0], n)
        half = spread / 2
        if vtype == "DARK":
            p = _sig(1.5 + 0.3 * k - (0.3 + 0.2 * k) * top3 - 0.02 * rvol)
            s = 0.3 + (2.0 + k) * z + 0.05 * rvol - 0.5 * side * imb
        elif vtype == "ECN":
            p = _sig(2.0 - 0.4 * top3 + 0.3 * urg - 0.1 * np.nan_to_num(-lim))
            s = half + (k - 4.0) + 0.4 * z + 0.03 * rvol
        else:
            p = np.full(n, 0.97)
            s = half + 1.5 + 0.2 * k + (0.5 + 0.1 * k) * z + 0.04 * rvol
        filled = (rng.uniform(size=n) < p).astype(np.int64)
        slip = s + 1.5 * rng.standard_t(3, n)
        stats = rng.normal([0.6, 2.0, -0.5, -1.0, 1.0], [0.2, 1.0, 1.0, 1.0, 1.0], (n, 5))
        frame = {
            "venue": [venue] * n, "venue_type": [vtype] * n,
            "sent_ts": pl.Series(T0 + np.sort(rng.integers(0, 20 * 86_400 * 10**9, n))).cast(pl.Datetime("ns", "UTC")),
            "side_sign": side, "is_mkt": is_mkt, "is_ioc": (rng.uniform(size=n) < 0.5).astype(float),
            "urgency_code": urg, "limit_distance_bps": lim, "rel_size_adv": z / 100, "spread_bps": spread,
            "imbalance_5": imb, "rvol_5m_bps": rvol, "size_vs_top3": top3, "time_of_day": tod,
            **{c: stats[:, i] for i, c in enumerate(FEATURE_COLUMNS[-5:])},
            "filled": filled, "fill_ratio": filled * rng.uniform(0.5, 1.0, n), "qty": np.full(n, 100),
            "filled_qty": filled * 100, "arrival_slippage_bps": np.where(filled == 1, slip, np.nan),
        }
        parts.append(pl.DataFrame(frame).with_columns(pl.col("limit_distance_bps", "arrival_slippage_bps")
                                                      .fill_nan(None)))
    return pl.concat(parts)


def make_orders(venues: list[str], n: int, seed: int) -> tuple[list[Order], list[MarketSnapshot]]:
    """n orders over 50 symbols with snapshots (NBBO, 5-level book, rvol, ADV, per-venue displayed)."""
    rng = np.random.default_rng(seed)
    n_sym = 50
    # venue trailing statistics are per venue (earlier days), one mapping for the whole day
    stats = {v: list(rng.normal([0.6, 2.0, -0.5, -1.0, 1.0], 0.5)) for v in venues}
    sym = rng.integers(0, n_sym, n)
    px = rng.uniform(10, 300, n_sym)[sym]
    spread = np.maximum(0.01, np.round(px * rng.uniform(1, 20, n) / 1e4, 2))
    bid = np.round(px, 2)
    ts = T0 + np.sort(rng.integers(0, int(6.5 * 3600) * 10**9, n))
    adv = rng.uniform(3e5, 3e7, n_sym)[sym]
    qty = np.maximum(100, (adv * np.exp(rng.normal(-7.5, 1.3, n))).astype(np.int64) // 100 * 100)
    sizes = rng.integers(1, 40, (n, 2, 5)) * 100.0
    shown = rng.integers(1, 30, (n, len(venues))) * 100.0
    mkt = rng.uniform(size=n) < 0.6
    side = np.where(rng.uniform(size=n) < 0.5, "BUY", "SELL")
    urg = np.array(["LOW", "MEDIUM", "HIGH"])[rng.integers(0, 3, n)]
    rvol = rng.uniform(3, 60, n)
    shown_venues = [v for v in venues if not v.startswith("DRK")]
    orders, snaps = [], []
    for i in range(n):
        b, a = float(bid[i]), float(bid[i] + spread[i])
        lim = None if mkt[i] else (a + 0.01 if side[i] == "BUY" else b - 0.01)
        orders.append(Order(f"S{sym[i]:03d}", str(side[i]), int(qty[i]), "MKT" if mkt[i] else "LMT", "IOC", lim,
                            str(urg[i]), int(ts[i]), f"O{i}"))
        snaps.append(MarketSnapshot(f"S{sym[i]:03d}", int(ts[i]), b, a, (b + a) / 2, sizes[i, 0].tolist(),
                                    sizes[i, 1].tolist(), float(rvol[i]), float(adv[i]), stats,
                                    dict(zip(shown_venues, shown[i].tolist(), strict=False))))
    return orders, snaps


def pct(ns: np.ndarray, q: float) -> float:
    return float(np.percentile(ns, q)) / 1e3


def time_route(router: LiveRouter, orders: list[Order], snaps: list[MarketSnapshot]) -> tuple[np.ndarray, np.ndarray]:
    """Per-order wall-clock ns and on-CPU ns (thread CPU time: excludes preemption by other processes)."""
    for o, s in zip(orders[:2000], snaps[:2000], strict=True):  # warm-up
        router.route(o, s)
    wall = np.empty(len(orders), dtype=np.int64)
    cpu = np.empty(len(orders), dtype=np.int64)
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    route = router.route
    gc.collect()
    gc.disable()
    try:
        for i, (o, s) in enumerate(zip(orders, snaps, strict=True)):
            c = cpu_clock()
            t = clock()
            route(o, s)
            wall[i] = clock() - t
            cpu[i] = cpu_clock() - c
    finally:
        gc.enable()
    return wall, cpu


def pyfunc_baseline(model: RouterModel, router: LiveRouter, orders: list[Order], snaps: list[MarketSnapshot],
                    home: Path) -> tuple[np.ndarray, float]:
    """Per-order ns through the plain MLflow pyfunc, and max |cost diff| vs the fast path (bps)."""
    from sor_pipeline.serving.pyfunc import load_pyfunc, pyfunc_frame
    from sor_pipeline.storage import registry

    settings = Settings(home=home)
    x0 = router.features(orders[0], snaps[0])[None]
    example = pl.from_pandas(pyfunc_frame(x0, router.venues, model.feature_columns, ["e0"]))
    with registry.parent_run(settings, "router-benchmark", {"benchmark": "router"}):
        uri = registry.log_router_model(model, example)
    version = registry.register_model(settings, uri, {"benchmark": "router"})
    pyfunc = load_pyfunc(f"models:/{settings.mlflow.model_name}/{version}")
    out = np.empty(len(orders), dtype=np.int64)
    worst = 0.0
    for i, (o, s) in enumerate(zip(orders, snaps, strict=True)):
        t = time.perf_counter_ns()
        x = router.features(o, s)[None]
        pred = pyfunc.predict(pyfunc_frame(x, router.venues, model.feature_columns, [o.order_id]))
        best = pred.sort_values("expected_cost_bps", kind="stable")["venue"].iloc[0]
        out[i] = time.perf_counter_ns() - t
        fast = router.route(o, s)
        by = {v.venue: v.expected_cost_bps for v in fast.venues}
        worst = max(worst, max(abs(by[v] - c) for v, c in zip(pred["venue"], pred["expected_cost_bps"], strict=True)))
        assert best in by
    return out, worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--venues", type=int, default=8, choices=range(2, len(VENUES) + 1), metavar="2..10")
    ap.add_argument("--trees", type=int, default=150, help="trees per booster (cap)")
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--train-rows", type=int, default=12_000, help="training rows per venue")
    ap.add_argument("--baseline-orders", type=int, default=300)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--full-trees", action="store_true",
                    help="worst case: no early stopping, every booster has --trees trees (default: as the nightly)")
    ap.add_argument("--model-dir", type=Path, default=None, help="a RouterModel folder instead of training")
    ap.add_argument("--small", action="store_true", help="quick run: 10k orders, 60 trees, 3k rows")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.small:
        args.orders, args.trees, args.train_rows, args.baseline_orders = 10_000, 60, 3_000, 100
    logging.basicConfig(level=logging.WARNING)
    res: dict[str, object] = {"orders": args.orders}

    t = time.perf_counter()
    if args.model_dir:
        model = RouterModel.load(args.model_dir)
    else:
        feats = synthetic_features(VENUES[: args.venues], args.train_rows, args.seed)
        # as the nightly trains (early stopping on a time-ordered validation slice), or the worst case
        # with --full-trees: no validation slice, no early stopping, every booster has --trees trees
        cfg = TrainConfig(n_estimators=args.trees, max_depth=args.depth, valid_frac=0.0 if args.full_trees else 0.2)
        model, _ = train_router(feats, cfg)
    res["model_s"] = round(time.perf_counter() - t, 2)
    res["full_trees"] = bool(args.full_trees)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        router = LiveRouter(model, static_waterfall=[v for v, _ in VENUES], version="bench",
                            cache_dir=Path(tmp) / "cache")
        res["load_s"] = round(time.perf_counter() - t, 3)
        assert router.ready and router.scorer_kind == "compiled", router.load_error
        scorer = router.scorer
        res.update(venues=len(router.venues), trees=getattr(scorer, "n_trees", None),
                   nodes=getattr(scorer, "n_nodes", None))
        orders, snaps = make_orders(router.venues, args.orders + 2000, args.seed + 1)
        gc.collect()
        gc.freeze()  # long-lived setup objects out of the collector's scans, as a trading process does
        lat, cpu = time_route(router, orders[2000:], snaps[2000:])
        res.update(p50_us=round(pct(lat, 50), 2), p99_us=round(pct(lat, 99), 2), p999_us=round(pct(lat, 99.9), 2),
                   max_us=round(float(lat.max()) / 1e3, 1), mean_us=round(float(lat.mean()) / 1e3, 2),
                   cpu_p50_us=round(pct(cpu, 50), 2), cpu_p99_us=round(pct(cpu, 99), 2),
                   cpu_p999_us=round(pct(cpu, 99.9), 2), load_avg_1m=round(os.getloadavg()[0], 2),
                   fallbacks=router.stats.fallbacks)
        t = time.perf_counter()
        for i in range(0, args.orders, args.batch):
            router.route_batch(orders[i: i + args.batch], snaps[i: i + args.batch])
        res["batch_orders_per_s"] = round(args.orders / (time.perf_counter() - t))
        # the columnar API, with the live router's exploration (draws, propensities, re-allocation)
        col_router = LiveRouter(model, static_waterfall=[v for v, _ in VENUES], version="bench",
                                cache_dir=Path(tmp) / "cache", exploration=Settings().router.exploration())
        chunks = [(OrderColumns.from_orders(orders[i: i + args.batch]),
                   SnapshotColumns.from_snapshots(snaps[i: i + args.batch], col_router.venues,
                                                  col_router.column_venues))
                  for i in range(0, args.orders, args.batch)]
        col_router.route_columns(*chunks[0])  # warm-up (buffers)
        explored = 0
        t, c = time.perf_counter(), time.thread_time()
        for oc, sc in chunks:
            explored += int(col_router.route_columns(oc, sc).explored.sum())
        res["orders_per_s"] = round(args.orders / (time.perf_counter() - t))
        res["orders_per_cpu_s"] = round(args.orders / (time.thread_time() - c))  # on-CPU: immune to preemption
        res["columnar_explored_share"] = round(explored / args.orders, 3)
        gc.unfreeze()
        # the scorer alone (features given): what the kernel costs per order
        x = np.stack([router.features(o, s) for o, s in zip(orders[:2000], snaps[:2000], strict=True)])
        t = time.perf_counter()
        assert scorer is not None
        scorer.score(x)
        res["kernel_us_per_order"] = round((time.perf_counter() - t) / len(x) * 1e6, 2)
        # XGBoost Python API on the same features: one inplace_predict per venue and model
        ref = ReferenceScorer(model)
        nb = args.baseline_orders
        xl = [x[i: i + 1] for i in range(min(nb, len(x)))]
        ref_ns = np.empty(len(xl), dtype=np.int64)
        for i, xi in enumerate(xl):
            t0 = time.perf_counter_ns()
            ref.score(xi)
            ref_ns[i] = time.perf_counter_ns() - t0
        res["xgboost_p50_us"] = round(pct(ref_ns, 50), 1)
        base, worst = pyfunc_baseline(model, router, orders[:nb], snaps[:nb], Path(tmp) / "home")
        res.update(baseline_orders=nb, baseline_p50_us=round(pct(base, 50), 1), baseline_p99_us=round(pct(base, 99), 1),
                   max_abs_cost_diff_vs_pyfunc_bps=worst)
    res["speedup_vs_pyfunc"] = round(float(res["baseline_p50_us"]) / float(res["p50_us"]), 1)  # type: ignore[arg-type]
    res["speedup_vs_xgboost"] = round(float(res["xgboost_p50_us"]) / float(res["p50_us"]), 1)  # type: ignore[arg-type]
    for k, v in res.items():
        print(f"{k:>34}: {v}")
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
