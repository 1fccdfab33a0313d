"""Benchmark build_nbbo on a synthetic day of venue quotes (not a test).

    uv run --frozen python benchmarks/nbbo.py --rows 20000000 --symbols 500
    uv run --frozen python benchmarks/nbbo.py --rows 2000000 --reference   # also time the old code

Quotes: ``--rows`` updates over ``--symbols`` symbols, each quoted by 4-13 of 13 venues, ts in one
09:30-16:00 session (sorted by ts, as a feed delivers them), prices on a 0.01 grid so venues share
prices (sizes sum) and some quotes lock/cross or are flagged. They are written once to Parquet in a
temporary folder; then each measurement runs in a fresh subprocess, so every peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is that phase's own:

- ``baseline``: read the Parquet file and sort it by (symbol, ts): the floor any NBBO pays.
- ``nbbo``: read the Parquet file, then ``build_nbbo`` (timed alone).
- ``reference`` (``--reference``): the same with the original implementation (tests/unit).

Prints one JSON object as the last stdout line: seconds, peak RSS in GB, row counts and
``nbbo_vs_sort`` = nbbo seconds / baseline read+sort seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

T0 = 1_709_649_000_000_000_000  # 2024-03-05 14:30 UTC (09:30 New York)
SESSION_NS = 6 * 3600 * 10**9 + 1800 * 10**9
N_VENUES = 13


def peak_rss_gb() -> float:
    """Peak resident set size of this process, GB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def make_quotes(rows: int, symbols: int, seed: int) -> pl.DataFrame:
    """Synthetic canonical quotes (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_venue = rng.integers(4, N_VENUES + 1, symbols)
    table = np.argsort(rng.random((symbols, N_VENUES)), axis=1)  # each symbol's venues, random order
    si = rng.integers(0, symbols, rows).astype(np.int32)
    vi = table[si, (rng.random(rows) * n_venue[si]).astype(np.int64)]
    base = np.round(rng.uniform(10, 300, symbols), 2)
    bid = np.round(base[si] + rng.integers(-5, 6, rows) * 0.01, 2)
    ask = np.round(bid + rng.integers(0, 4, rows) * 0.01, 2)
    flagged = rng.random(rows) < 0.002
    sym_names = pl.Series([f"S{i:04d}" for i in range(symbols)])
    venue_names = pl.Series([f"V{i:02d}" for i in range(N_VENUES)])
    frame = pl.DataFrame({
        "ts": np.sort(rng.integers(T0, T0 + SESSION_NS, rows)), "symbol": sym_names.gather(si),
        "venue": venue_names.gather(vi), "bid_px": bid, "bid_sz": rng.integers(1, 20, rows) * 100,
        "ask_px": np.where(flagged, 0.0, ask), "ask_sz": rng.integers(1, 20, rows) * 100,
    })
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")),
                              pl.when(pl.Series(flagged)).then(pl.lit("ZERO")).otherwise(None).alias("flag"))


def run_phase(phase: str, path: Path) -> dict[str, float]:
    """One measurement in this process; returns its figures."""
    t = time.perf_counter()
    quotes = pl.read_parquet(path)
    read_s = time.perf_counter() - t
    out: dict[str, float] = {"read_s": read_s, "rows": float(quotes.height)}
    t = time.perf_counter()
    if phase == "baseline":
        quotes.sort("symbol", "ts", maintain_order=True)
    elif phase == "nbbo":
        from sor_pipeline.ingest.nbbo import build_nbbo

        out["nbbo_rows"] = float(build_nbbo(quotes).height)
    elif phase == "reference":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.unit.test_adapters_nbbo import build_nbbo_reference

        out["nbbo_rows"] = float(build_nbbo_reference(quotes).height)
    else:
        raise ValueError(phase)
    out["seconds"] = time.perf_counter() - t
    out["peak_rss_gb"] = peak_rss_gb()
    return out


def _child(phase: str, path: Path) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--phase", phase, "--path", str(path)],
                          check=True, capture_output=True, text=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20_000_000, help="quote updates (default 20 M)")
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reference", action="store_true", help="also time the original implementation")
    ap.add_argument("--phase", choices=["baseline", "nbbo", "reference"], help=argparse.SUPPRESS)
    ap.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.path)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "quotes.parquet"
        t = time.perf_counter()
        make_quotes(args.rows, args.symbols, args.seed).write_parquet(path)
        gen_s = time.perf_counter() - t
        base = _child("baseline", path)
        nb = _child("nbbo", path)
        ref = _child("reference", path) if args.reference else None
    result = {
        "rows": args.rows, "symbols": args.symbols, "venues_per_symbol": "4-13", "generate_s": round(gen_s, 2),
        "read_s": round(nb["read_s"], 3), "baseline_sort_s": round(base["seconds"], 3),
        "baseline_read_sort_s": round(base["read_s"] + base["seconds"], 3),
        "baseline_peak_rss_gb": round(base["peak_rss_gb"], 2),
        "nbbo_s": round(nb["seconds"], 3), "nbbo_peak_rss_gb": round(nb["peak_rss_gb"], 2),
        "nbbo_rows": int(nb["nbbo_rows"]),
        "nbbo_vs_sort": round(nb["seconds"] / (base["read_s"] + base["seconds"]), 2),
    }
    if ref is not None:
        result |= {"reference_s": round(ref["seconds"], 3), "reference_peak_rss_gb": round(ref["peak_rss_gb"], 2),
                   "speedup": round(ref["seconds"] / nb["seconds"], 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
