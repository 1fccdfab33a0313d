"""Command-level helpers around the simulator: build a SimConfig from CLI options and write drops."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import Any, cast

from sor_pipeline.config.calendar import next_trading_days
from sor_pipeline.simulation import SimConfig
from sor_pipeline.simulation.config import big_day_config
from sor_pipeline.simulation.core import simulate_day
from sor_pipeline.simulation.drop import ExecFormat, TickFormat, write_big_day, write_drop
from sor_pipeline.simulation.scenarios import load_scenario

ROTATION: tuple[ExecFormat, ...] = ("csv", "jsonl", "fix")


def sim_config(seed: int, symbols: int, venues: list[str] | None = None, big: bool = False) -> SimConfig:
    config = big_day_config(seed=seed) if big else SimConfig(seed=seed, n_symbols=symbols)
    if big and symbols > config.n_symbols:
        config = replace(config, n_symbols=symbols)
    if venues:
        known = {v.code for v in config.venues}
        unknown = sorted(set(venues) - known)
        if unknown:
            raise ValueError(f"unknown venue code(s) {unknown}; known: {sorted(known)}")
        kept = [v for v in config.venues if v.code in set(venues)]
        if not any(v.venue_type == "LIT" for v in kept):
            raise ValueError("keep at least one LIT venue: it is the fallback of every waterfall")
        config = replace(config, venues=kept,
                         regimes=[r for r in config.regimes if r.venue is None or r.venue in set(venues)])
    return config


TICK_ROTATION: tuple[TickFormat, ...] = ("parquet", "csv")


def exec_format_for(choice: str, day_index: int) -> ExecFormat:
    return ROTATION[day_index % len(ROTATION)] if choice == "rotate" else cast(ExecFormat, choice)


def tick_format_for(choice: str, day_index: int) -> TickFormat:
    return TICK_ROTATION[day_index % len(TICK_ROTATION)] if choice == "rotate" else cast(TickFormat, choice)


def run_sim(*, start: date, days: int, out: Path, seed: int, symbols: int, venues: list[str] | None,
            exec_format: str, tick_format: str, big: bool, holidays: list[date],
            scenario: str | None = None) -> dict[str, Any]:
    """Simulate ``days`` trading days with the static waterfall and write the drops; JSON summary.
    ``scenario``: a scenario TOML file whose regimes (and venues) replace the default story's."""
    config = sim_config(seed, symbols, venues, big)
    if scenario:
        config = load_scenario(scenario).apply(config)
    t0 = time.perf_counter()
    dates = next_trading_days(start, days, holidays)
    for i, day in enumerate(dates):
        fmt, tfmt = exec_format_for(exec_format, i), tick_format_for(tick_format, i)
        if big:
            write_big_day(config, day, i, out, exec_format=fmt, tick_format=tfmt)
        else:
            write_drop(simulate_day(config, day, i), out / day.isoformat(), fmt, tfmt, config)
    return {"raw_dir": str(out), "dates": [d.isoformat() for d in dates], "seed": seed,
            "symbols": config.n_symbols, "venues": [v.code for v in config.venues],
            "scenario": scenario, "regimes": [asdict(r) for r in config.regimes],
            "exec_format": exec_format, "tick_format": tick_format, "seconds": round(time.perf_counter() - t0, 2)}
