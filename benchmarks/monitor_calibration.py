"""How loud the monitor is: false alarms on clean simulated days, detection of the shipped regime shifts.

    uv run python benchmarks/monitor_calibration.py                 # 4 seeds x 6 clean days + 4 scenarios
    uv run python benchmarks/monitor_calibration.py --seeds 1 2 --days 5 --json

Clean days: the default market with no regime, ``--days`` trading days per seed, monitored in order
(thresholds calibrate on the lake's own earlier days, as in the nightly). Scenarios: each shipped file of
``data_samples/scenarios/`` with a regime (seed 7), simulated up to the day after its last shift; a shift
is detected when a warn-level breach fires on its first day. Figures: warn-level breached rows per clean
day (the desk's reading load before grouping), alerts per clean day (one per check and date), and per
shift the checks that fired on its first day.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from sor_pipeline.simulation import SimConfig
from sor_pipeline.simulation.calibration import monitor_days
from sor_pipeline.simulation.scenarios import load_scenario

START = date(2024, 3, 4)
SCENARIOS = Path(__file__).resolve().parents[1] / "data_samples" / "scenarios"


def clean(seeds: list[int], days: int) -> dict[str, object]:
    per_day: list[dict[str, Any]] = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            for d in monitor_days(SimConfig(seed=seed, regimes=[]), START, days, Path(tmp)):
                per_day.append({"seed": seed, "day_index": d.day_index, "warn_rows": d.warn_rows, "alerts": d.alerts,
                                "breaches": sorted({f"{c}:{v or ''}:{s or ''}" for c, v, s in d.breaches})})
    rows = [d["warn_rows"] for d in per_day]
    alerts = [d["alerts"] for d in per_day]
    return {"days": len(per_day), "warn_rows_mean": statistics.fmean(rows), "warn_rows_max": max(rows),
            "alerts_mean": statistics.fmean(alerts), "alerts_max": max(alerts),
            "days_with_any": sum(1 for r in rows if r), "noisy_days": [d for d in per_day if d["warn_rows"]]}


def scenario(path: Path) -> dict[str, object]:
    sc = load_scenario(path)
    shifts = sc.shift_days()
    config = sc.apply(replace(SimConfig(seed=sc.seed or 7), n_symbols=sc.symbols or 5))
    with tempfile.TemporaryDirectory() as tmp:
        days = monitor_days(config, START, max(shifts) + 1, Path(tmp))
    out = []
    for s in shifts:
        d = days[s]
        out.append({"shift_day": s, "detected": d.warn_rows > 0,
                    "fired": sorted({f"{c}:{v or ''}:{sub or ''}" for c, v, sub in d.breaches})})
    quiet = [d.warn_rows for d in days if d.day_index not in shifts]
    return {"scenario": sc.name, "shifts": out, "clean_days": len(quiet),
            "clean_warn_rows_mean": statistics.fmean(quiet) if quiet else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--days", type=int, default=6)
    ap.add_argument("--no-scenarios", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    res: dict[str, object] = {"clean": clean(a.seeds, a.days)}
    if not a.no_scenarios:
        files = sorted(p for p in SCENARIOS.glob("*.toml") if load_scenario(p).regimes)
        res["scenarios"] = [scenario(p) for p in files]
    res["elapsed_s"] = round(time.perf_counter() - t0, 1)
    if a.json:
        print(json.dumps(res, default=str))
        return 0
    c = res["clean"]
    assert isinstance(c, dict)
    print(f"clean days: {c['days']}; warn-level breached rows per day mean {c['warn_rows_mean']:.2f} "
          f"(max {c['warn_rows_max']}); alerts per day mean {c['alerts_mean']:.2f} (max {c['alerts_max']}); "
          f"days with any: {c['days_with_any']}")
    for d in c["noisy_days"]:  # type: ignore[attr-defined]
        print(f"  seed {d['seed']} day {d['day_index']}: {', '.join(d['breaches'])}")
    for s in res.get("scenarios", []):  # type: ignore[attr-defined]
        for sh in s["shifts"]:
            print(f"{s['scenario']}: shift on day {sh['shift_day']} "
                  f"{'detected' if sh['detected'] else 'MISSED'} the same night: {', '.join(sh['fired']) or '-'}")
        print(f"  {s['clean_days']} other days, warn rows per day mean {s['clean_warn_rows_mean']:.2f}")
    print(f"elapsed {res['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
