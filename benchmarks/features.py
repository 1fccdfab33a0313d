"""Benchmark: ingest, feature+label build and TCA on a big day, against bare-read floors and pandas.

    uv run --frozen python benchmarks/features.py [--small] [--symbols N] [--quotes N] [--children N]
                                                  [--repeat K] [--stages a,b,...] [--json]

Two big days, each made once per run and outside every timing:

- a synthetic canonical day made with numpy (tests/fixtures_market.py: 500 symbols, 20 M NBBO rows,
  2 M depth snapshots, 2 M trades, 500 k child orders, ~550 k fills), written through the lake
  (so ``nbbo`` is in the lake's (symbol, ts) order, as ingest writes it; depth in time order);
- a simulated raw drop in production formats (``sor-pipeline sim --big`` sizes: ~20 M venue quotes,
  ~10 M depth rows, ~1.1 M child orders as CSV logs and tick Parquet) for the ingest stage.

Every stage runs in its own subprocess, ``--repeat`` times (default 3, interleaved), and reports the
median wall time (s, the work only, imports excluded), the median ``cpu_s`` (user + system of that
subprocess, imports included: what a loaded machine inflates least) and the largest peak RSS (GB,
``ru_maxrss`` of that subprocess); ``load_avg_1m`` is the load average when the run ended. Stages and
their baselines, measured in the same run:

- ``floor``: bare read of the Parquet columns the feature build reads, into memory (polars);
- ``features``: build_features (features + labels), ratio ``features_over_floor`` (target <= 4);
- ``tca``: run_tca (DuckDB SQL, writes tca_child/parent/agg);
- ``labels``: our polars path for exactly what the pandas stage computes (arrival mid, slippage,
  markouts from the same columns);
- ``pandas``: those labels with pandas ``merge_asof`` (tests/reference_pandas.py), ratios
  ``pandas_over_features`` (target >= 10) and ``pandas_over_labels`` (like for like);
- ``raw_read``: bare read of every file of the raw drop (polars read_csv / read_parquet);
- ``raw_write``: that bare read plus writing every table read as the lake writes a partition (zstd
  Parquet, its row groups, statistics, fsync): the least any ingest that keeps a compressed lake does;
- ``ingest``: ingest_day on that drop into an empty lake (adapters, validation, quarantine, NBBO,
  atomic writes), ratios ``ingest_over_raw_read`` and ``ingest_over_raw_write``;
- ``sim_floor`` / ``sim_features``: the floor and the feature build again, on the lake that ingest
  wrote (the simulator's shape: fewer NBBO rows after de-duplication, 5x the depth snapshots, twice
  the child orders), ratio ``sim_features_over_floor``.

With ``--json`` the last stdout line is one JSON object of the figures (``targets`` says which hold).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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
    "fills": ["child_id", "ts", "qty", "px", "fee_bps"],
    "nbbo": ["ts", "symbol", "bid_px", "ask_px", "mid_px"],
    "depth": ["ts", "symbol", "venue", *[f"{s}_sz_{k}" for s in ("bid", "ask") for k in range(1, 6)]],
    "venues": ["venue", "venue_type"],
}
LAKE_STAGES = ("floor", "features", "tca", "labels", "pandas")
RAW_STAGES = ("raw_read", "raw_write", "ingest", "sim_floor", "sim_features")
ALL_STAGES = LAKE_STAGES + RAW_STAGES


def generate(lake_dir: Path, symbols: int, quotes: int, children: int) -> dict[str, int]:
    from sor_pipeline.storage.lake import Lake
    from tests.fixtures_market import make_day, write_day

    frames = make_day(DAY, n_symbols=symbols, n_nbbo=quotes, n_depth=quotes // 10, n_trades=quotes // 10,
                      n_parents=children // 5, children_per_parent=5, seed=1)
    lake = Lake(lake_dir)
    write_day(lake, DAY, frames, validate=False)
    # one earlier day of trades so ADV is exercised
    write_day(lake, date(2024, 3, 4), {"trades": frames["trades"]}, validate=False)
    return {k: v.height for k, v in frames.items()}


def generate_raw(raw_dir: Path, symbols: int, quotes: int) -> dict[str, int]:
    """A simulated raw drop for DAY at big-day proportions (``quotes`` venue quote updates in all)."""
    from sor_pipeline.simulation.config import big_day_config
    from sor_pipeline.simulation.drop import write_big_day

    config = big_day_config(n_symbols=symbols, quote_updates_per_symbol=max(1, quotes // symbols))
    rows: dict[str, int] = write_big_day(config, DAY, 0, raw_dir)["rows"]
    return rows


def _raw_files(raw_dir: Path) -> list[Path]:
    from sor_pipeline.ingest.drop import drop_files

    return drop_files(raw_dir / DAY.isoformat())


def stage(name: str, lake_dir: Path, raw_dir: Path | None) -> dict[str, float]:
    """Run one stage in this process; return wall seconds and rows."""
    import polars as pl

    from sor_pipeline.config.settings import Settings
    from sor_pipeline.storage.lake import Lake

    t0 = time.perf_counter()
    rows = 0
    if name in ("raw_read", "raw_write"):
        assert raw_dir is not None
        from sor_pipeline.storage.lake import _write_parquet

        out_dir = lake_dir.parent / "raw-write"
        shutil.rmtree(out_dir, ignore_errors=True)
        t0 = time.perf_counter()
        for i, f in enumerate(_raw_files(raw_dir)):
            frame = pl.read_parquet(f) if f.suffix == ".parquet" else pl.read_csv(f, infer_schema_length=10_000)
            rows += frame.height
            if name == "raw_write":
                _write_parquet(frame, out_dir / f"{i}.parquet")
    elif name == "ingest":
        assert raw_dir is not None
        from sor_pipeline.ingest.day import ingest_day

        home = lake_dir.parent / "ingest-home"
        shutil.rmtree(home, ignore_errors=True)
        t0 = time.perf_counter()
        summary = ingest_day(DAY, raw_dir, Lake(home / "lake"), Settings(home=home))
        rows = sum(int(t["written"]) for t in summary.tables.values())
    elif name in ("sim_floor", "sim_features"):  # on the lake the ingest stage wrote
        return stage(name.removeprefix("sim_"), lake_dir.parent / "ingest-home" / "lake", None)
    else:
        from sor_pipeline.features import build_features, child_labels
        from sor_pipeline.tca.run import run_tca
        from tests.reference_pandas import reference_labels

        lake = Lake(lake_dir)
        t0 = time.perf_counter()
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
            qi = nbbo_state(lake.read("nbbo", [DAY]), symbol_codes(kids), ["mid_px"])
            (arrival,) = qi.lookup(code_of(kids["symbol"], qi.codes), kids["sent_ts"], ["mid_px"])
            kids = kids.with_columns(arrival.to_series().alias("arrival_mid"))
            rows = child_labels(kids, fill_rows, qi, [1.0, 5.0, 30.0, 60.0]).collect().height
        elif name == "pandas":
            kids = lake.read("child_orders", [DAY]).select("child_id", "symbol", "side", "sent_ts").collect()
            fills = lake.read("fills", [DAY]).select(NEEDED["fills"]).collect()
            nbbo = lake.read("nbbo", [DAY]).select("ts", "symbol", "mid_px").collect()
            rows = len(reference_labels(kids, fills, nbbo))
        else:
            raise SystemExit(f"unknown stage {name}")
    return {"wall_s": round(time.perf_counter() - t0, 3), "rows": rows}


def run_stage(name: str, lake_dir: Path, raw_dir: Path | None) -> dict[str, float]:
    """Run one stage in a fresh child process; ``peak_gb`` is that child's own ``ru_maxrss`` (from wait4)."""
    cmd = [sys.executable, __file__, "--stage", name, "--lake", str(lake_dir)]
    if raw_dir is not None:
        cmd += ["--raw", str(raw_dir)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"stage {name} failed ({proc.returncode}):\n{err}")
    res: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    res["peak_gb"] = round(usage.ru_maxrss / 1024**2, 3)
    res["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)  # the whole child, imports included
    return res


def _subprocess_json(args: list[str]) -> dict[str, int]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _ratio(num: str, den: str, res: dict[str, dict[str, float]]) -> float | None:
    if num in res and den in res and res[den]["wall_s"]:
        return round(res[num]["wall_s"] / res[den]["wall_s"], 2)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="50 symbols, 1 M quotes, 25 k child orders")
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--quotes", type=int, default=20_000_000)
    ap.add_argument("--children", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each stage; the median wall time is reported")
    ap.add_argument("--stages", default=",".join(ALL_STAGES), help=f"comma list of stages (default all: "
                                                                   f"{','.join(ALL_STAGES)})")
    ap.add_argument("--skip-pandas", action="store_true", help="leave out the (slow) pandas stage")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.stage == "generate":  # in a subprocess, so later stages do not inherit its peak RSS
        print(json.dumps(generate(a.lake, a.symbols, a.quotes, a.children)))
        return
    if a.stage == "generate_raw":
        print(json.dumps(generate_raw(a.raw, a.symbols, a.quotes)))
        return
    if a.stage:
        print(json.dumps(stage(a.stage, a.lake, a.raw)))
        return
    if a.small:
        a.symbols, a.quotes, a.children = 50, 1_000_000, 25_000
    names = [n for n in a.stages.split(",") if n and not (a.skip_pandas and n == "pandas")]
    unknown = sorted(set(names) - set(ALL_STAGES))
    if unknown:
        raise SystemExit(f"unknown stage(s) {unknown}; known: {', '.join(ALL_STAGES)}")
    log = sys.stderr if a.json else sys.stdout
    size = ["--symbols", str(a.symbols), "--quotes", str(a.quotes), "--children", str(a.children)]
    with tempfile.TemporaryDirectory(prefix="sor-bench-") as tmp:
        lake_dir, raw_dir = Path(tmp) / "lake", Path(tmp) / "raw"
        sizes: dict[str, dict[str, int]] = {}
        t0 = time.perf_counter()
        if any(n in LAKE_STAGES for n in names):
            sizes["lake"] = _subprocess_json(["--stage", "generate", "--lake", str(lake_dir), *size])
        if any(n in RAW_STAGES for n in names):
            sizes["raw"] = _subprocess_json(["--stage", "generate_raw", "--raw", str(raw_dir), *size])
        gen_s = time.perf_counter() - t0
        runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for r in range(max(1, a.repeat)):
            for n in names:
                runs[n].append(run_stage(n, lake_dir, raw_dir if n in RAW_STAGES else None))
                last = runs[n][-1]
                print(f"run {r + 1} {n:9s} {last['wall_s']:8.2f} s  cpu {last['cpu_s']:8.2f} s  "
                      f"peak {last['peak_gb']:6.2f} GB  rows {last['rows']}", file=log, flush=True)
    res = {n: {"wall_s": round(statistics.median(x["wall_s"] for x in v), 3),
               "wall_s_runs": [x["wall_s"] for x in v],
               "peak_gb": max(x["peak_gb"] for x in v), "rows": v[-1]["rows"],
               "cpu_s": round(statistics.median(x["cpu_s"] for x in v), 3)} for n, v in runs.items()}
    summary: dict[str, object] = {
        "sizes": sizes, "generate_s": round(gen_s, 2), "repeat": a.repeat, "stages": res,
        "features_over_floor": _ratio("features", "floor", res),
        "pandas_over_features": _ratio("pandas", "features", res),
        "pandas_over_labels": _ratio("pandas", "labels", res),
        "ingest_over_raw_read": _ratio("ingest", "raw_read", res),
        "ingest_over_raw_write": _ratio("ingest", "raw_write", res),
        "ingest_over_raw_read_cpu": (round(res["ingest"]["cpu_s"] / res["raw_read"]["cpu_s"], 2)
                                     if "ingest" in res and "raw_read" in res and res["raw_read"]["cpu_s"] else None),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "sim_features_over_floor": _ratio("sim_features", "sim_floor", res),
        "features_peak_gb": res.get("features", {}).get("peak_gb"),
        "tca_peak_gb": res.get("tca", {}).get("peak_gb"),
        "ingest_peak_gb": res.get("ingest", {}).get("peak_gb"),
        "sim_features_peak_gb": res.get("sim_features", {}).get("peak_gb"),
    }
    checks = {"features_over_floor<=4": (summary["features_over_floor"], lambda v: v <= 4),
              "pandas_over_features>=10": (summary["pandas_over_features"], lambda v: v >= 10),
              "features_peak_gb<6": (summary["features_peak_gb"], lambda v: v < 6)}
    summary["targets"] = {k: (bool(test(v)) if v is not None else None) for k, (v, test) in checks.items()}
    print(json.dumps(summary) if a.json else json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
