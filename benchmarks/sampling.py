"""Benchmark: does the big day's training sample cost routing quality? Graded by the simulator's truth.

    uv run --frozen python benchmarks/sampling.py [--scale 4] [--days 7] [--seeds 3] [--json] [--keep DIR]

The big-day night (``benchmarks/night.py --scales 16``) trains on at most
``train.sample_cap_per_day_venue`` = 20 000 rows per (day, venue), about 11 % of a big day's 1.09 M
features rows (6–15 % of each busy venue's, all of the quietest one's). This script measures what that
fraction costs the router, with everything but the sample held fixed:

1. ``--days`` distinct trading days are simulated at ``--scale`` (scale 16 = the big day: 500 symbols;
   scale s = 500 s / 16 symbols, same per-symbol activity), each with its own day index (its own
   symbols' paths, orders and outcomes), ingested and featurised in a fresh lake;
2. the router is trained on all days but the last (the nightly's ``train_router``), once on every row
   and once on the big day's fraction: cap = 20 000 x scale / 16 rows per (day, venue), the weights
   carried into training as the nightly does; both for each of ``--seeds`` seeds (XGBoost's row
   subsample and the sample both follow the seed, so the two arms are paired by seed);
3. each model routes every rank-1 decision of the held-out last day (argmin of predicted cost over
   the day's venues, as the backtest chooses), and the simulator's truth grades the choice: its true
   expected cost (bps, + = cost), beside the static waterfall's first venue and the best venue.

Reported per arm: mean true cost per decision (bps), captured share of the static-to-oracle gap, and
the paired difference sampled - full (bps, + = sampling costs more) with its standard error over parent
orders (decisions of one parent are not independent). Below the big day's volume the same fraction
keeps fewer rows, so a scale under 16 is the harder test of the cap, not the easier one. The truth is
only read here, to grade; nothing that trains reads it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import night  # noqa: E402 - the big day's size and dates

BIG_DAY_CAP = 20_000  #: the big-day night's ``SOR_TRAIN_SAMPLE_CAP_PER_DAY_VENUE``


def make_days(root: Path, scale: float, n_days: int, log: Any) -> list[date]:
    """Simulate, ingest and featurise ``n_days`` distinct trading days ending on ``night.DAY``."""
    from sor_pipeline.config.settings import Settings
    from sor_pipeline.features import write_features
    from sor_pipeline.ingest.day import ingest_day
    from sor_pipeline.simulation.config import big_day_config
    from sor_pipeline.simulation.drop import write_big_day
    from sor_pipeline.storage.lake import Lake

    days = [*night.history_days(n_days - 1), night.DAY]
    settings, lake = Settings(home=root / "home"), Lake(root / "home" / "lake")
    config = big_day_config(n_symbols=night.symbols_at(scale))
    for i, d in enumerate(days):
        if lake.exists("features", d):
            continue
        t = time.perf_counter()
        raw = root / "raw"
        write_big_day(config, d, i, raw)
        ingest_day(d, raw, lake, settings)
        write_features(d, lake, settings)
        shutil.rmtree(raw / d.isoformat(), ignore_errors=True)
        print(f"day {d}: simulated, ingested, featurised in {time.perf_counter() - t:.0f} s", file=log, flush=True)
    return days


def graded_choices(model: Any, test: pl.DataFrame, stats: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """(request_id, parent_id, cost_bps): the true expected cost of the venue ``model`` picks per decision."""
    from sor_pipeline.learning.backtest import candidate_rows, choose

    requests = test.filter(pl.col("route_rank") == 1)
    chosen = choose(model.score(candidate_rows(requests, stats)), "model")
    return (chosen.join(requests.select(pl.col("child_id").alias("request_id"), "parent_id"), on="request_id")
            .join(truth.select(pl.col("child_id").alias("request_id"), pl.col("venue").alias("venue_model"),
                               pl.col("expected_cost_bps").alias("cost_bps")), on=["request_id", "venue_model"])
            .select("request_id", "parent_id", "cost_bps"))


def paired(a: pl.DataFrame, b: pl.DataFrame) -> tuple[float, float]:
    """Mean of b - a per decision (bps) and its standard error with parent orders as clusters."""
    j = a.join(b, on=["request_id", "parent_id"], suffix="_b").with_columns(
        (pl.col("cost_bps_b") - pl.col("cost_bps")).alias("d"))
    per = j.group_by("parent_id").agg(pl.col("d").sum(), pl.len().alias("n"))
    n = float(per["n"].sum())
    mean = float(per["d"].sum()) / n
    resid = (per["d"] - mean * per["n"]).to_numpy()
    se = float(np.sqrt((resid**2).sum() * per.height / max(per.height - 1, 1))) / n
    return mean, se


def measure(root: Path, scale: float, n_days: int, seeds: int, log: Any) -> dict[str, Any]:
    from sor_pipeline.config.settings import Settings
    from sor_pipeline.learning.backtest import static_venue, venue_day_stats
    from sor_pipeline.learning.train import TrainConfig, train_router
    from sor_pipeline.storage.lake import TRUTH_DATASET, Lake

    days = make_days(root, scale, n_days, log)
    lake = Lake(root / "home" / "lake")
    features = lake.read("features", days=days).collect()
    window = features.filter(pl.col("date") < days[-1])
    test = features.filter(pl.col("date") == days[-1])
    stats = venue_day_stats(features)
    truth = lake.read(TRUTH_DATASET, [days[-1]]).select("child_id", "venue", "expected_cost_bps").collect()
    cap = max(1, round(BIG_DAY_CAP * scale / 16))
    per_venue = window.group_by("date", "venue").len()
    kept = per_venue.select(pl.min_horizontal(pl.col("len"), cap).sum()).item()
    waterfall = list(Settings().router.static_waterfall)
    requests = test.filter(pl.col("route_rank") == 1).select(pl.col("child_id").alias("request_id"))
    st = static_venue(stats["venue"].unique().to_list(), waterfall)
    graded = truth.join(requests, left_on="child_id", right_on="request_id", how="semi")
    static_bps = float(graded.filter(pl.col("venue") == st)["expected_cost_bps"].mean())  # type: ignore[arg-type]
    oracle_bps = float(graded.group_by("child_id").agg(pl.col("expected_cost_bps").min())["expected_cost_bps"].mean())  # type: ignore[arg-type]
    base = TrainConfig.from_settings()
    arms: dict[str, list[dict[str, Any]]] = {"full": [], "sampled": []}
    for seed in range(seeds):
        costs = {}
        for arm, arm_cap in (("full", None), ("sampled", cap)):
            t = time.perf_counter()
            model, _ = train_router(window, replace(base, seed=base.seed + seed, sample_cap_per_day_venue=arm_cap))
            train_s = time.perf_counter() - t
            costs[arm] = graded_choices(model, test, stats, truth)
            mean = float(costs[arm]["cost_bps"].mean())  # type: ignore[arg-type]
            arms[arm].append({"seed": base.seed + seed, "train_s": round(train_s, 1), "cost_bps": round(mean, 4),
                              "captured_share": round((static_bps - mean) / (static_bps - oracle_bps), 4)})
            print(f"seed {base.seed + seed} {arm}: {mean:.3f} bps (train {train_s:.0f} s)", file=log, flush=True)
        diff, se = paired(costs["full"], costs["sampled"])
        arms["sampled"][-1].update(diff_vs_full_bps=round(diff, 4), diff_se_bps=round(se, 4))

    def avg(arm: str, key: str) -> float:
        return round(float(np.mean([r[key] for r in arms[arm]])), 4)

    diffs = np.array([r["diff_vs_full_bps"] for r in arms["sampled"]])
    return {"scale": scale, "symbols": night.symbols_at(scale), "days": [d.isoformat() for d in days],
            "train_rows": window.height, "sampled_rows": int(kept), "kept_share": round(kept / window.height, 4),
            "cap_per_day_venue": cap, "test_decisions": requests.height, "static_venue": st,
            "static_bps": round(static_bps, 4), "oracle_bps": round(oracle_bps, 4),
            "full": arms["full"], "sampled": arms["sampled"],
            "full_cost_bps": avg("full", "cost_bps"), "sampled_cost_bps": avg("sampled", "cost_bps"),
            "full_captured_share": avg("full", "captured_share"),
            "sampled_captured_share": avg("sampled", "captured_share"),
            # the seeds share the test decisions: the per-seed standard error, not a pooled one
            "sampled_minus_full_bps": round(float(diffs.mean()), 4),
            "sampled_minus_full_se_bps": round(float(np.mean([r["diff_se_bps"] for r in arms["sampled"]])), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=4.0, help="16 = the big day; default 4 (125 symbols)")
    ap.add_argument("--days", type=int, default=7, help="distinct days: all but the last train, the last is graded")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (its simulated days are reused)")
    a = ap.parse_args()
    log = sys.stderr if a.json else sys.stdout
    root = a.keep or Path(tempfile.mkdtemp(prefix="sor-sampling-"))
    try:
        out = measure(root, a.scale, a.days, a.seeds, log)
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out) if a.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
