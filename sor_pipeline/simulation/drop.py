"""Write simulated days as raw drops in the production formats, with the ground truth beside them.

Layout under ``out_dir``::

    YYYY-MM-DD/parent_orders.<csv|jsonl>, venues.<csv|jsonl>       (csv when exec_format="fix")
    YYYY-MM-DD/child_orders.<fmt>, fills.<fmt>  or  exec_fix.log     (exec_format="fix")
    YYYY-MM-DD/quotes|depth|trades.<parquet|csv>
    YYYY-MM-DD/_truth/oracle.parquet, _truth/meta.json              (never ingested)

The format codecs live in ``sor_pipeline.ingest`` and are imported lazily.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import polars as pl

from sor_pipeline.config.calendar import next_trading_days
from sor_pipeline.ingest.drop import TRUTH_DIR, truth_path
from sor_pipeline.simulation.config import SimConfig
from sor_pipeline.simulation.core import SimDay, iter_day_groups, simulate_day
from sor_pipeline.simulation.market import venues_frame
from sor_pipeline.simulation.policy import RoutingPolicy

ExecFormat = Literal["csv", "jsonl", "fix"]
TickFormat = Literal["parquet", "csv"]
PolicyFactory = Callable[[date, int, Path], RoutingPolicy | None]
FIX_LOG = "exec_fix.log"


def _write_exec(tables: dict[str, pl.DataFrame], day_dir: Path, exec_format: ExecFormat) -> list[Path]:
    from sor_pipeline.simulation.writers import write_execlog

    if exec_format == "fix":
        from sor_pipeline.simulation.writers import write_fix_log

        paths = write_execlog({k: tables[k] for k in ("parent_orders", "venues")}, day_dir, "csv")
        paths.append(write_fix_log(tables["child_orders"], tables["fills"], day_dir / FIX_LOG))
        return paths
    return write_execlog({k: tables[k] for k in ("parent_orders", "child_orders", "fills", "venues")},
                         day_dir, exec_format)


def _write_truth(day_dir: Path, oracle: pl.DataFrame | None, meta: dict[str, Any]) -> list[Path]:
    truth = day_dir / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    paths = []
    if oracle is not None:
        oracle.write_parquet(truth / "oracle.parquet", compression="zstd")
        paths.append(truth / "oracle.parquet")
    (truth / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    paths.append(truth / "meta.json")
    return paths


def truth_meta(config: SimConfig, day: date, day_index: int, regimes: list[dict[str, object]],
               policy_name: str, counts: dict[str, int]) -> dict[str, Any]:
    """What ``_truth/meta.json`` holds: config, seed, day index, regimes in force, policy, row counts."""
    return {"date": day.isoformat(), "day_index": day_index, "seed": config.seed, "policy": policy_name,
            "regimes_in_force": regimes, "rows": counts, "config": config.as_dict()}


def write_drop(simday: SimDay, day_dir: Path, exec_format: ExecFormat = "csv", tick_format: TickFormat = "parquet",
               config: SimConfig | None = None) -> list[Path]:
    """Write one simulated day to ``day_dir`` (already the ``YYYY-MM-DD`` folder); returns the paths."""
    from sor_pipeline.simulation.writers import write_ticks

    day_dir = Path(day_dir)
    day_dir.mkdir(parents=True, exist_ok=True)
    paths = _write_exec(simday.tables, day_dir, exec_format)
    for name in ("quotes", "depth", "trades"):
        paths.append(write_ticks(name, simday.tables[name], day_dir, tick_format))
    counts = {k: v.height for k, v in simday.tables.items()} | {"oracle": simday.oracle.height}
    cfg = config or simday.config or SimConfig()
    meta = truth_meta(cfg, simday.date, simday.day_index, simday.regimes, simday.policy_name, counts)
    return paths + _write_truth(day_dir, simday.oracle, meta)


@dataclass(frozen=True)
class RangeResult:
    dates: list[date]
    dirs: list[Path]


def simulate_range(config: SimConfig, start: date, days: int, policy_factory: PolicyFactory | None = None,
                   history: object | None = None, holidays: list[date] | None = None) -> list[SimDay]:
    """Simulate ``days`` trading weekdays from ``start`` in memory (day_index 0, 1, ...)."""
    out = []
    for i, d in enumerate(next_trading_days(start, days, holidays or [])):
        policy = policy_factory(d, i, Path(".")) if policy_factory else None
        out.append(simulate_day(config, d, i, policy, history))
    return out


def write_range(config: SimConfig, start: date, days: int, out_dir: Path,
                policy_factory: PolicyFactory | None = None, exec_format: ExecFormat = "csv",
                tick_format: TickFormat = "parquet", holidays: list[date] | None = None,
                history: object | None = None) -> RangeResult:
    """Simulate and write ``days`` trading weekdays from ``start`` under ``out_dir/YYYY-MM-DD/``.

    ``policy_factory(day, day_index, out_dir)`` returns the routing policy for that day (None = the
    static waterfall); a closed loop passes a factory that loads the current champion."""
    out_dir = Path(out_dir)
    dates, dirs = [], []
    for i, d in enumerate(next_trading_days(start, days, holidays or [])):
        policy = policy_factory(d, i, out_dir) if policy_factory else None
        simday = simulate_day(config, d, i, policy, history)
        day_dir = out_dir / d.isoformat()
        write_drop(simday, day_dir, exec_format, tick_format, config)
        dates.append(d)
        dirs.append(day_dir)
    return RangeResult(dates, dirs)


def write_big_day(config: SimConfig, day: date, day_index: int, out_dir: Path, policy: RoutingPolicy | None = None,
                  exec_format: ExecFormat = "csv", tick_format: TickFormat = "parquet",
                  history: object | None = None) -> dict[str, Any]:
    """Stream a (big) day to ``out_dir/YYYY-MM-DD/`` one symbol group at a time.

    Tick tables and the oracle are appended per group and never held whole; the execution tables
    (small next to the ticks) are collected and written once at the end, because the execution-log
    codecs write whole tables. Returns the day dir, row counts and paths."""
    from sor_pipeline.simulation.writers import TickWriter

    day_dir = Path(out_dir) / day.isoformat()
    day_dir.mkdir(parents=True, exist_ok=True)
    writers = {name: TickWriter(day_dir, name, tick_format) for name in ("quotes", "depth", "trades")}
    exec_parts: dict[str, list[pl.DataFrame]] = {"parent_orders": [], "child_orders": [], "fills": []}
    counts: dict[str, int] = {}
    oracle_path = truth_path(day_dir)
    oracle_path.parent.mkdir(parents=True, exist_ok=True)
    oracle_writer = None
    regimes: list[dict[str, object]] = []
    policy_name = "static"
    try:
        import pyarrow.parquet as pq

        for part in iter_day_groups(config, day, day_index, policy, history):
            regimes, policy_name = part.regimes, part.policy_name
            for name, w in writers.items():
                w.write(part.tables[name])
                counts[name] = counts.get(name, 0) + part.tables[name].height
            for name in exec_parts:
                exec_parts[name].append(part.tables[name])
            table = part.oracle.to_arrow()
            if oracle_writer is None:
                oracle_writer = pq.ParquetWriter(oracle_path, table.schema, compression="zstd")
            oracle_writer.write_table(table)
            counts["oracle"] = counts.get("oracle", 0) + part.oracle.height
            part.market = None
    finally:
        paths = [w.close() for w in writers.values()]
        if oracle_writer is not None:
            oracle_writer.close()
    tables = {k: pl.concat(v) for k, v in exec_parts.items()} | {"venues": venues_frame(config.venues)}
    counts |= {k: v.height for k, v in tables.items()}
    paths += _write_exec(tables, day_dir, exec_format)
    paths += _write_truth(day_dir, None, truth_meta(config, day, day_index, regimes, policy_name, counts))
    return {"day_dir": str(day_dir), "rows": counts, "paths": [str(p) for p in paths] + [str(oracle_path)]}
