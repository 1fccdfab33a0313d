"""The learning loop's own benchmark: gate calibration and OPE accuracy on pre-simulated logs, and the
closed loop in production mode on the default story and the shipped scenarios.

    uv run python benchmarks/loop.py --json                       # calibration + every scenario, 2 at once
    uv run python benchmarks/loop.py --calibration-only --json    # seconds: error rates and DR coverage
    uv run python benchmarks/loop.py --scenario data_samples/scenarios/toxic-pool.toml --days 20 --json

Calibration (no Prefect, no MLflow): a day's decisions are drawn like the demo's (``--decisions`` per
day, 5 days, 2 decisions per parent), each request has a true expected cost per venue; the incumbent's
choice is logged through the live router's exploration (softmax over its noisy predicted costs, the
configured temperature and floor), the realised cost is the true cost plus noise. The challengers:
*null* (true mean cost equal to the incumbent's, differing on >= 30 % of decisions) and *edge* (0.5 bps
cheaper). The gate (:func:`sor_pipeline.learning.gate.evaluate_gate`) runs on the SN-DR terms with a
reward model that is the truth plus noise (a cross-fitted model's error). Rates come with their 95 %
Wilson intervals. The closed loop runs ``flows.demo.demo_flow`` in a fresh SOR_HOME per scenario; its
figures are graded by the simulator's truth after the fact.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sor_pipeline.config.settings import Settings  # noqa: E402
from sor_pipeline.learning import ope  # noqa: E402
from sor_pipeline.learning.gate import evaluate_gate  # noqa: E402
from sor_pipeline.serving.exploration import draw, rank1_probabilities  # noqa: E402

EMPTY_VM = pl.DataFrame(schema={"model": pl.String, "venue": pl.String, "slippage_mae_bps": pl.Float64})
SCENARIOS = ["default", *sorted(str(p) for p in (ROOT / "data_samples" / "scenarios").glob("*.toml"))]


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _world(rng: np.random.Generator, n: int, nv: int = 6) -> np.ndarray:
    """(n, V) true expected costs, bps: a request-level level, venue effects, per-request noise."""
    level = rng.normal(4.0, 1.5, (n, 1))
    venue = np.array([0.0, 1.5, 0.5, 0.8, 1.2, 1.0])[:nv]
    return level + venue + rng.normal(0.0, 1.0, (n, nv))


def _target(true: np.ndarray, base: np.ndarray, rng: np.random.Generator, delta_bps: float) -> np.ndarray:
    """A policy differing from ``base`` on >= 30 % of decisions whose true mean cost is the base's plus
    ``delta_bps`` (chosen among the other venues by how close they bring the mean to the target)."""
    n, nv = true.shape
    out = base.copy()
    idx = rng.choice(n, size=int(0.35 * n), replace=False)
    alt = (base[idx] + rng.integers(1, nv, len(idx))) % nv
    out[idx] = alt
    gap = (true[np.arange(n), out] - true[np.arange(n), base]).mean() - delta_bps
    # shift the costs of the switched decisions' venues so the true mean difference is exactly delta
    true[idx, alt] -= gap * n / len(idx)
    return out


def calibration(settings: Settings, seeds: int, decisions_per_day: int, days: int = 5) -> dict[str, Any]:
    params = settings.router.exploration()
    n = decisions_per_day * days
    outcomes: dict[str, list[int]] = {"null": [], "edge": [], "demote_false": []}
    cover: dict[str, list[bool]] = {"near (challenger)": [], "far (static)": []}
    bias: dict[str, list[float]] = {"near (challenger)": [], "far (static)": []}
    for seed in range(seeds):
        rng = np.random.default_rng(10_000 + seed)
        true = _world(rng, n)
        predicted = true + rng.normal(0.0, 0.7, true.shape)  # the incumbent's model
        incumbent = predicted.argmin(axis=1)
        static = np.zeros(n, dtype=np.int64)
        probs = rank1_probabilities(predicted, incumbent, np.ones_like(true, dtype=bool), params, static)
        for kind, delta in (("null", 0.0), ("edge", -0.5)):
            t = true.copy()
            challenger = _target(t, incumbent, rng, delta)
            logged, prop = draw(probs, rng)
            cost = t[np.arange(n), logged] + rng.normal(0.0, 3.0, n)
            q = t + rng.normal(0.0, 1.0, t.shape)  # reward model: truth + error
            day = np.arange(n) % days
            rows = {"date": [date(2024, 4, 1 + d) for d in day], "parent_id": np.arange(n) // 2}
            for name, choice in (("challenger", challenger), ("champion", incumbent), ("static", static)):
                w = ope.clipped_weights(logged == choice, prop, settings.gate.max_importance_weight)
                rows[f"dr_{name}"] = ope.sn_dr_terms(cost, q[np.arange(n), logged], q[np.arange(n), choice], w, day)
                rows[f"w_{name}"] = w
            verdict = evaluate_gate(pl.DataFrame(rows), EMPTY_VM, settings)
            outcomes[kind].append(int(verdict.action == "promote"))
            if kind == "null":
                # false demotion: the incumbent is cheaper than static here by construction
                outcomes["demote_false"].append(int(verdict.action == "demote"))
                frame = pl.DataFrame(rows)
                for label, policy, choice in (("near (challenger)", "challenger", challenger),
                                              ("far (static)", "static", static)):
                    diff = (frame[f"dr_{policy}"] - frame["dr_champion"]).to_numpy()
                    est = ope.paired(policy, "champion", diff, frame["parent_id"].to_numpy(), day, 0.05, 1e5)
                    truth = float((t[np.arange(n), choice] - t[np.arange(n), incumbent]).mean())
                    cover[label].append(abs(est.mean_diff_bps - truth) <= 1.96 * est.se_bps)
                    bias[label].append(est.mean_diff_bps - truth)
    rate = {k: (sum(v) / len(v), wilson(sum(v), len(v))) for k, v in outcomes.items()}
    return {"seeds": seeds, "decisions_per_day": decisions_per_day,
            "false_promotion_rate": rate["null"][0], "false_promotion_ci95": rate["null"][1],
            "power_0p5bp": rate["edge"][0], "power_0p5bp_ci95": rate["edge"][1],
            "false_demotion_rate": rate["demote_false"][0], "false_demotion_ci95": rate["demote_false"][1],
            "dr_coverage": min(float(np.mean(v)) for v in cover.values()),
            "dr_coverage_by_policy": {k: float(np.mean(v)) for k, v in cover.items()},
            "dr_bias_bps_by_policy": {k: float(np.mean(v)) for k, v in bias.items()}}


def closed_loop(scenario: str, days: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="sor_loop_")) / "home"
    os.environ["SOR_HOME"] = str(home)
    from sor_pipeline.config.settings import apply_runtime_env, get_settings

    get_settings.cache_clear()
    apply_runtime_env(get_settings())
    from flows.demo import demo_flow

    t0 = time.perf_counter()
    out = demo_flow(date(2024, 3, 4), days, scenario=None if scenario == "default" else scenario)
    return {"scenario": out["scenario"], "captured_gap_share": out["captured_gap_share"],
            "nights_to_recover": out["nights_to_recover"], "warmup_days": out["warmup_days"],
            "alias_moves": out["alias_moves"], "wall_s": round(time.perf_counter() - t0, 1),
            "days": [{k: d[k] for k in ("date", "static", "ml", "oracle", "router_policy", "action")}
                     for d in out["days"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--decisions", type=int, default=350, help="Decisions per day (the default demo's volume).")
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--scenario", action="append", help="Scenario file or 'default' (repeatable).")
    ap.add_argument("--calibration-only", action="store_true")
    ap.add_argument("--jobs", type=int, default=2,
                    help="Scenarios run at once, each in its own process and SOR_HOME (default 2: one per core "
                         "here; XGBoost trains on one thread). 1 runs them in this process, one after another.")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    settings = Settings()
    t0 = time.perf_counter()
    result: dict[str, Any] = calibration(settings, args.seeds, args.decisions)
    result["calibration_wall_s"] = round(time.perf_counter() - t0, 1)
    if not args.calibration_only:
        scenarios = args.scenario or SCENARIOS
        t1 = time.perf_counter()
        if args.jobs > 1 and len(scenarios) > 1:
            ctx = multiprocessing.get_context("spawn")  # a fresh interpreter per scenario: no shared settings cache
            with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx, max_tasks_per_child=1) as pool:
                result["scenarios"] = list(pool.map(closed_loop, scenarios, [args.days] * len(scenarios)))
        else:
            result["scenarios"] = [closed_loop(s, args.days) for s in scenarios]
        result["scenarios_wall_s"] = round(time.perf_counter() - t1, 1)
        result["jobs"] = args.jobs
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, default=str) if args.json else json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
