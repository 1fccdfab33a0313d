"""Benchmark: feature+label build and TCA on a synthetic big day, against the bare-read floor and pandas.

    uv run --frozen python benchmarks/features.py [--small] [--symbols N] [--quotes N] [--children N] [--json]

Generates one canonical day with numpy (tests/fixtures_market.py) into a temporary lake, then runs each
stage in its own subprocess and reports wall time (s, the work only, imports excluded) and peak RSS
(GB, ``ru_maxrss`` of that subprocess; data generation runs in its own subprocess so that no
stage inherits its high-water mark across fork/exec): ``floor`` = bare read of the Parquet columns the build needs,
``features`` = build_features, ``tca`` = run_tca, ``labels`` = our polars path for exactly what the
pandas stage computes (arrival mid, slippage, markouts from the same columns), ``pandas`` = those labels
with pandas ``merge_asof``. Ratios: features / floor (target <= 4), pandas / features (target >= 10) and
pandas / labels (the like-for-like comparison).
With ``--json`` the last stdout line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = date(2024, 3, 5)
NEEDED = {
    "child_orders": ["child_id", "parent_id", "symbol", "side", "venue", "order_type", "tif", "limit_px", "qty",
                     "sent_ts", "router_policy", "route_rank", "propensity"],
    "parent_orders": ["parent_id", "urgency"],
    "fills": ["exec_id", "child_id", "ts", "qty", "px", "fee_bps"],
    "nbbo": ["ts", "symbol", "bid_px", "ask_px", "mid_px"],
    "depth": ["ts", "symbol", "venue", *[f"{s}_sz_{k}" for s in ("bid", "ask") for k in range(1, 6)]],
    "venues": ["venue", "venue_type"],
}


def generate(lake_dir: Path, symbols: int, quotes: int, children: int) -> dict[str, int]:
    from sor_pipeline.lake import Lake
    from tests.fixtures_market import make_day, write_day

    frames = make_day(DAY, n_symbols=symbols, n_nbbo=quotes, n_depth=quotes // 10, n_trades=quotes // 10,
                      n_parents=children // 5, children_per_parent=5, seed=1)
    lake = Lake(lake_dir)
    write_day(lake, DAY, frames, validate=False)
    # one earlier day of trades so ADV is exercised
    write_day(lake, date(2024, 3, 4), {"trades": frames["trades"]}, validate=False)
    return {k: v.height for k, v in frames.items()}


def stage(name: str, lake_dir: Path) -> dict[str, float]:
    """Run one stage in this process; return wall seconds and peak RSS GB."""
    import polars as pl

    from sor_pipeline.features import build_features, child_labels
    from sor_pipeline.lake import Lake
    from sor_pipeline.settings import Settings
    from sor_pipeline.tca import run_tca
    from tests.reference_pandas import reference_labels

    lake = Lake(lake_dir)
    t0 = time.perf_counter()
    rows = 0
    if name == "floor":
        for ds, cols in NEEDED.items():
            rows += lake.read(ds, [DAY]).select(cols).collect().height
    elif name == "features":
        rows = build_features(DAY, lake, Settings(home=lake_dir)).height
    elif name == "tca":
        rows = run_tca(DAY, lake)["tca_child"].written
    elif name == "labels":  # ours, on exactly the pandas stage's inputs and outputs (apples to apples)
        from sor_pipeline.features.market_state import code_of, nbbo_state, symbol_codes

        kids = lake.read("child_orders", [DAY]).select("child_id", "symbol", "side", "qty", "sent_ts").collect()
        fill_rows = lake.read("fills", [DAY]).select(NEEDED["fills"])
        qi = nbbo_state(lake.read("nbbo", [DAY]).select("ts", "symbol", "bid_px", "ask_px", "mid_px"),
                        symbol_codes(kids))
        kids = kids.with_columns(qi.lookup(code_of(kids["symbol"], qi.codes), kids["sent_ts"], ["mid_px"])
                                 .to_series().alias("arrival_mid"))
        rows = child_labels(kids, fill_rows, qi, [1.0, 5.0, 30.0, 60.0]).collect().height
    elif name == "pandas":
        kids = lake.read("child_orders", [DAY]).select("child_id", "symbol", "side", "sent_ts").collect()
        fills = lake.read("fills", [DAY]).select(NEEDED["fills"]).collect()
        nbbo = lake.read("nbbo", [DAY]).select("ts", "symbol", "mid_px").collect()
        rows = len(reference_labels(kids, fills, nbbo))
    else:
        raise SystemExit(f"unknown stage {name}")
    wall = time.perf_counter() - t0
    _ = pl
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {"wall_s": round(wall, 3), "peak_gb": round(peak_gb, 3), "rows": rows}


def run_stage(name: str, lake_dir: Path) -> dict[str, float]:
    """Run one stage in a fresh child process; ``peak_gb`` is that child's own ``ru_maxrss`` (from wait4)."""
    with subprocess.Popen([sys.executable, __file__, "--stage", name, "--lake", str(lake_dir)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"stage {name} failed ({proc.returncode}):\n{err}")
    res: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    res["peak_gb"] = round(usage.ru_maxrss / 1024**2, 3)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="50 symbols, 1 M quotes, 25 k child orders")
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--quotes", type=int, default=20_000_000)
    ap.add_argument("--children", type=int, default=500_000)
    ap.add_argument("--skip-pandas", action="store_true", help="skip the (slow) pandas stage")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.stage == "generate":  # in a subprocess, so later stages do not inherit its peak RSS
        print(json.dumps(generate(a.lake, a.symbols, a.quotes, a.children)))
        return
    if a.stage:
        print(json.dumps(stage(a.stage, a.lake)))
        return
    if a.small:
        a.symbols, a.quotes, a.children = 50, 1_000_000, 25_000
    with tempfile.TemporaryDirectory(prefix="sor-bench-") as tmp:
        lake_dir = Path(tmp) / "lake"
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--stage", "generate", "--lake", str(lake_dir),
                              "--symbols", str(a.symbols), "--quotes", str(a.quotes), "--children", str(a.children)],
                             check=True, capture_output=True, text=True)
        sizes = json.loads(out.stdout.strip().splitlines()[-1])
        gen_s = time.perf_counter() - t0
        names = ["floor", "features", "tca", "labels"] + ([] if a.skip_pandas else ["pandas"])
        res = {}
        for n in names:
            res[n] = run_stage(n, lake_dir)
            print(f"{n:9s} {res[n]['wall_s']:8.2f} s  peak {res[n]['peak_gb']:6.2f} GB  rows {res[n]['rows']}",
                  file=sys.stderr if a.json else sys.stdout)
    fw, fl = res["features"]["wall_s"], res["floor"]["wall_s"]
    summary = {
        "sizes": sizes, "generate_s": round(gen_s, 2), "stages": res,
        "features_over_floor": round(fw / fl, 2) if fl else None,
        "pandas_over_features": round(res["pandas"]["wall_s"] / fw, 2) if "pandas" in res else None,
        "pandas_over_labels": round(res["pandas"]["wall_s"] / res["labels"]["wall_s"], 2) if "pandas" in res else None,
        "features_peak_gb": res["features"]["peak_gb"], "tca_peak_gb": res["tca"]["peak_gb"],
    }
    if a.json:
        print(json.dumps(summary))
    else:
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
