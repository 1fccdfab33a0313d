"""Benchmark: the whole nightly at several sizes, per stage wall time and peak RSS of the process tree.

    uv run --frozen python benchmarks/night.py [--scales 1,4,16] [--history-days 6] [--json] [--keep DIR [--reuse]]

Scale 16 is the big day of ``sor-pipeline sim --big`` (500 symbols, ~20 M venue quotes, ~1 M child
orders); scale ``s`` simulates ``500 * s / 16`` symbols at the same per-symbol activity, so scale 1 is
a sixteenth of it. For every scale, outside every timing:

1. the raw drop of the measured date ``DAY`` is simulated (``write_big_day``, CSV logs, Parquet ticks);
2. a training history is made cheaply: the drop is ingested, featurised and TCA'd once in a scratch
   home, and those partitions are copied to the ``--history-days`` trading days before ``DAY`` in a
   fresh ``SOR_HOME`` with every timestamp shifted by the day offset (only cost is measured here, so
   the same day repeated is as good as any);
3. the night of ``DAY`` runs cold in its own process: a fresh ``SOR_HOME`` (no Prefect stage cache, no
   MLflow store, no champion), the real ``nightly_flow`` (Prefect ephemeral API, MLflow on sqlite).

Per stage (``ingest``, ``features``, ``tca``, ``monitor``, ``retrain`` = train + walk-forward
backtest + gate, ``sandbox``, ``report``): wall seconds, ``cpu_s`` (user + system of the night's process
and its waited-for children: what a loaded machine does not inflate), ``peak_rss_gb`` = the largest sum of the
resident set sizes of the night's process and all its descendants, polled every 20 ms while that
stage ran (psutil), and ``rows_in`` (rows of the lake/raw tables the stage reads, from Parquet
metadata). ``total_peak_rss_gb`` is the larger of the polled tree peak and the ``ru_maxrss`` that
``wait4`` reports for the night's process.

``exponents``: least-squares slope of log wall time against log scale, per stage and for the night
(its total less ``fixed_s``). ``fixed_s``: the night's size-independent cost, i.e. its wall time
outside the size-dependent stages (flow start on Prefect's ephemeral API, MLflow registry look-ups,
promotion, the report), the smallest over the scales; it is reported apart so it does not flatten
the night's slope. ``load_avg_1m``: the 1-minute load average when the run ended (this machine is
shared: read every figure next to it). ``bounds``: the memory bounds of this invocation's environment, which the
nights it measures run with (the retrain's sample and decision caps, DuckDB's memory limit; a scale
taken over by ``--reuse`` ran with whatever its own run had). With ``--json`` the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = date(2024, 3, 15)
BIG_SYMBOLS = 500
STAGES = ("ingest", "features", "tca", "monitor", "retrain", "sandbox", "report")
SCALED = ("ingest", "features", "tca", "monitor", "retrain", "sandbox")
EXPONENT_STAGES = ("ingest", "features", "tca", "monitor")
#: lake datasets each stage reads for DAY (``rows_in``); retrain reads the features window
READS = {
    "features": ["child_orders", "parent_orders", "fills", "nbbo", "depth", "trades", "venues"],
    "tca": ["child_orders", "parent_orders", "fills", "nbbo", "trades"],
    "monitor": ["child_orders", "fills", "quotes", "nbbo", "features"],
    "sandbox": ["child_orders", "parent_orders", "nbbo", "depth"],
    "report": ["tca_child", "tca_parent", "child_orders", "fills"],
}
HISTORY_DATASETS_SKIP = {"quarantine"}


def symbols_at(scale: float) -> int:
    return max(1, round(BIG_SYMBOLS * scale / 16))


# --------------------------------------------------------------------------- preparation (subprocesses)

def generate_raw(raw_dir: Path, scale: float) -> dict[str, int]:
    from sor_pipeline.simulation.config import big_day_config
    from sor_pipeline.simulation.drop import write_big_day

    rows: dict[str, int] = write_big_day(big_day_config(n_symbols=symbols_at(scale)), DAY, 0, raw_dir)["rows"]
    return rows


def history_days(n: int) -> list[date]:
    from sor_pipeline.config.calendar import trading_days

    days = trading_days(DAY - timedelta(days=3 * n + 7), DAY - timedelta(days=1))
    return days[-n:] if n else []


def _shift(frame: Any, offset_days: int) -> Any:
    """Every timestamp of ``frame`` moved by ``offset_days`` days (UTC ns ints named ts/*_ts, Date, Datetime)."""
    import polars as pl

    ns = offset_days * 86_400 * 10**9
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Date or isinstance(dtype, pl.Datetime):
            exprs.append((pl.col(name) + pl.duration(days=offset_days)).cast(dtype).alias(name))
        elif dtype.is_integer() and (name == "ts" or name.endswith("_ts")):
            exprs.append((pl.col(name) + ns).cast(dtype).alias(name))
    return frame.with_columns(exprs) if exprs else frame


def make_history(raw_dir: Path, scratch: Path, home: Path, n_days: int) -> dict[str, Any]:
    """Ingest, featurise and TCA ``DAY`` once in ``scratch``; copy its partitions, shifted, to the
    ``n_days`` trading days before ``DAY`` in ``home``'s lake."""
    import polars as pl

    from sor_pipeline.config.settings import Settings
    from sor_pipeline.features import write_features
    from sor_pipeline.ingest.day import ingest_day
    from sor_pipeline.storage.lake import Lake
    from sor_pipeline.tca.run import run_tca

    t0 = time.perf_counter()
    settings = Settings(home=scratch)
    lake = Lake(scratch / "lake")
    ingest_day(DAY, raw_dir, lake, settings)
    write_features(DAY, lake, settings)
    run_tca(DAY, lake)
    days = history_days(n_days)
    src_root = scratch / "lake"
    copied = 0
    for ds_dir in sorted(p for p in src_root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if ds_dir.name in HISTORY_DATASETS_SKIP:
            continue
        part = ds_dir / f"date={DAY.isoformat()}"
        if not part.is_dir():
            continue
        for f in sorted(part.glob("*.parquet")):
            frame = pl.read_parquet(f)
            for d in days:
                out = home / "lake" / ds_dir.name / f"date={d.isoformat()}" / f.name
                out.parent.mkdir(parents=True, exist_ok=True)
                _shift(frame, (d - DAY).days).write_parquet(out, compression="zstd", statistics=True)
                copied += 1
            del frame
    shutil.rmtree(scratch, ignore_errors=True)
    return {"days": [d.isoformat() for d in days], "files": copied, "prep_s": round(time.perf_counter() - t0, 1)}


# --------------------------------------------------------------------------- the measured night (subprocess)

class TreeRss:
    """Polls the resident set size of this process and all its descendants; peak per named phase."""

    def __init__(self, interval_s: float = 0.02) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval_s
        self.phase = "fixed"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> int:
        import psutil

        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss, phase = self.sample(), self.phase
            if rss > self.peaks.get(phase, 0):
                self.peaks[phase] = rss
            self._stop.wait(self._interval)

    def enter(self, phase: str) -> None:
        self.phase = phase
        rss = self.sample()
        self.peaks[phase] = max(self.peaks.get(phase, 0), rss)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_night(raw_dir: Path) -> dict[str, Any]:
    """The real nightly flow for DAY in this process (SOR_HOME set by the caller); per stage wall and
    tree-RSS peak, recorded by wrapping the flow's one stage runner ``flows.nightly._run``."""
    import psutil

    import flows.nightly as nightly

    me = psutil.Process()

    def cpu_s() -> float:  # this process and its waited-for children, user + system
        t = me.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    walls: dict[str, float] = {}
    cpus: dict[str, float] = {}
    original = nightly._run
    with TreeRss() as rss:

        def timed(stage: str, day: date, fn: Any) -> Any:
            key = stage if stage in STAGES else "fixed"
            rss.enter(key)
            t, c = time.perf_counter(), cpu_s()
            try:
                return original(stage, day, fn)
            finally:
                walls[key] = walls.get(key, 0.0) + time.perf_counter() - t
                cpus[key] = cpus.get(key, 0.0) + cpu_s() - c
                rss.enter("fixed")

        nightly._run = timed
        t0, c0 = time.perf_counter(), cpu_s()
        try:
            summary = nightly.nightly_flow(DAY, str(raw_dir))
        finally:
            nightly._run = original
        total, total_cpu = time.perf_counter() - t0, cpu_s() - c0
    gb = 1024**3
    out = {"walls": walls, "cpu_s": {k: round(v, 2) for k, v in cpus.items()}, "total_cpu_s": round(total_cpu, 2),
           "peaks_gb": {k: round(v / gb, 3) for k, v in rss.peaks.items()},
           "tree_peak_gb": round(max(rss.peaks.values()) / gb, 3), "total_wall_s": round(total, 3),
           "verdict": summary.get("verdict"), "action": summary.get("action"), "promoted": summary.get("promoted"),
           "reasons": summary.get("reasons"), "challenger": summary.get("challenger_version"),
           "sandbox_ran": summary.get("sandbox") is not None}
    (raw_dir.parent / "night.json").write_text(json.dumps(out, indent=1, default=str))
    return out


def _partition_rows(lake_root: Path, names: list[str], days: list[date]) -> int:
    import pyarrow.parquet as pq

    rows = 0
    for name in names:
        for d in days:
            for f in (lake_root / name / f"date={d.isoformat()}").glob("*.parquet"):
                rows += pq.ParquetFile(f).metadata.num_rows
    return rows


# --------------------------------------------------------------------------- driver

def _child(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> tuple[dict[str, Any], int]:
    """Run this script with ``args`` in a fresh process; its JSON result and its ``ru_maxrss`` (bytes)."""
    cmd = [sys.executable, __file__, *args]
    err = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env) as proc:
            assert proc.stdout is not None
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            err.close()  # type: ignore[union-attr]
    if proc.returncode:
        tail = log.read_text()[-3000:] if log and log.exists() else ""
        raise SystemExit(f"{' '.join(args[:2])} failed ({proc.returncode}):\n{tail}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss * 1024


def bounds() -> dict[str, Any]:
    """The settings that bound a night's memory in this environment (else the defaults): training rows
    per (day, venue), judged decisions per test day, DuckDB's memory limit."""
    from sor_pipeline.config.settings import Settings
    from sor_pipeline.config.threads import DUCKDB_MEMORY_ENV

    s = Settings()
    return {"train_sample_cap_per_day_venue": s.train.sample_cap_per_day_venue,
            "backtest_max_decisions_per_day": s.backtest.max_decisions_per_day,
            "duckdb_memory_limit": os.environ.get(DUCKDB_MEMORY_ENV) or None}


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x); None with fewer than two usable points."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / den, 3) if den else None


def measure_scale(scale: float, work: Path, n_history: int, log: Any, reuse: bool = False) -> dict[str, Any]:
    base = work / f"scale-{scale:g}"
    saved = base / "result.json"
    if reuse and saved.is_file():
        print(f"scale {scale:g}: reusing {saved}", file=log, flush=True)
        result: dict[str, Any] = json.loads(saved.read_text())
        return result
    shutil.rmtree(base, ignore_errors=True)
    raw, home = base / "raw", base / "home"
    t = time.perf_counter()
    base.mkdir(parents=True)
    raw_rows, _ = _child(["--stage", "generate_raw", "--raw", str(raw), "--scale", str(scale)], log=base / "gen.log")
    print(f"scale {scale:g}: simulated {symbols_at(scale)} symbols in {time.perf_counter() - t:.0f} s: {raw_rows}",
          file=log, flush=True)
    hist, _ = _child(["--stage", "history", "--raw", str(raw), "--home", str(home), "--history-days", str(n_history)],
                     log=base / "history.log")
    print(f"scale {scale:g}: history {hist}", file=log, flush=True)
    env = {**os.environ, "SOR_HOME": str(home), "SOR_RAW_DIR": str(raw)}
    env.pop("SOR_CONFIG", None)
    night, maxrss = _child(["--stage", "night", "--raw", str(raw)], env=env, log=base / "night.log")
    lake_root = home / "lake"
    window = [*history_days(n_history), DAY]
    rows_in = {"ingest": sum(v for k, v in raw_rows.items() if k != "oracle"),
               "retrain": _partition_rows(lake_root, ["features"], window),
               **{k: _partition_rows(lake_root, v, [DAY]) for k, v in READS.items()}}
    stages = {s: {"wall_s": round(night["walls"].get(s, 0.0), 3), "cpu_s": night.get("cpu_s", {}).get(s),
                  "peak_rss_gb": night["peaks_gb"].get(s, 0.0), "rows_in": rows_in.get(s, 0)} for s in STAGES}
    fixed = night["total_wall_s"] - sum(stages[s]["wall_s"] for s in SCALED)
    out = {"scale": scale, "symbols": symbols_at(scale), "raw_rows": raw_rows, "history_days": len(window) - 1,
           "stages": stages, "total_wall_s": night["total_wall_s"], "total_cpu_s": night.get("total_cpu_s"),
           "total_peak_rss_gb": round(max(night["tree_peak_gb"], maxrss / 1024**3), 3),
           "outside_scaled_stages_s": round(fixed, 3),
           **{k: night[k] for k in ("verdict", "action", "promoted", "reasons", "challenger", "sandbox_ran")}}
    print(f"scale {scale:g}: night {night['total_wall_s']:.1f} s, peak {out['total_peak_rss_gb']:.2f} GB; "
          + ", ".join(f"{s} {v['wall_s']:.1f} s / {v['peak_rss_gb']:.2f} GB" for s, v in stages.items()),
          file=log, flush=True)
    saved.write_text(json.dumps(out, indent=1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="1,4,16", help="comma list; 16 = the big day (500 symbols)")
    ap.add_argument("--history-days", type=int, default=6,
                    help="trading days of (copied) history before the night (default 6: five walk-forward folds "
                         "each with a training day)")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder, removed)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: a scale whose result.json is there is not measured again")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--scale", type=float, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.stage == "generate_raw":
        print(json.dumps(generate_raw(a.raw, a.scale)))
        return
    if a.stage == "history":
        print(json.dumps(make_history(a.raw, a.home.parent / "scratch", a.home, a.history_days)))
        return
    if a.stage == "night":
        print(json.dumps(run_night(a.raw)))
        return
    scales = [float(s) for s in a.scales.split(",") if s]
    log = sys.stderr if a.json else sys.stdout
    work = a.keep or Path(tempfile.mkdtemp(prefix="sor-night-"))
    try:
        results = [measure_scale(s, work, a.history_days, log, a.reuse and a.keep is not None) for s in scales]
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    xs = [r["scale"] for r in results]
    fixed_s = round(min(r["outside_scaled_stages_s"] for r in results), 3)
    exponents: dict[str, float | None] = {s: slope(xs, [r["stages"][s]["wall_s"] for r in results])
                                          for s in EXPONENT_STAGES}
    exponents["retrain"] = slope(xs, [r["stages"]["retrain"]["wall_s"] for r in results])
    exponents["night"] = slope(xs, [r["total_wall_s"] - fixed_s for r in results])
    for r in results:
        r["scale"] = int(r["scale"]) if float(r["scale"]).is_integer() else r["scale"]
    summary = {"scales": results, "exponents": exponents, "fixed_s": fixed_s,
               "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(), "bounds": bounds()}
    print(json.dumps(summary) if a.json else json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
