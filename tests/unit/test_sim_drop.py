"""Raw drop writing: layout per format, ground truth beside the drop, streaming big-day writer."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from schemas import SimOracle
from sor_pipeline.simulation import SimConfig, StaticWaterfall, simulate_day
from sor_pipeline.simulation.drop import write_big_day, write_drop, write_range

SMALL = SimConfig(n_symbols=2, parent_orders_per_symbol=10, quote_updates_per_symbol=300, trades_per_symbol=50)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "fix"])
def test_write_range_layout(tmp_path: Path, fmt: str) -> None:
    seen: list[tuple[date, int]] = []

    def factory(day: date, i: int, out: Path) -> StaticWaterfall:
        seen.append((day, i))
        return StaticWaterfall(["DRK1", "DRK2", "ECNM", "ECNI", "LITA", "LITB"])

    res = write_range(SMALL, date(2024, 3, 8), 2, tmp_path, factory, exec_format=fmt)  # type: ignore[arg-type]
    assert res.dates == [date(2024, 3, 8), date(2024, 3, 11)]  # Friday, then Monday
    assert seen == [(date(2024, 3, 8), 0), (date(2024, 3, 11), 1)]
    names = {p.name for p in res.dirs[0].iterdir()}
    ext = "csv" if fmt == "fix" else fmt
    expected = {f"parent_orders.{ext}", f"venues.{ext}", "quotes.parquet", "depth.parquet", "trades.parquet", "_truth"}
    expected |= {"exec_fix.log"} if fmt == "fix" else {f"child_orders.{fmt}", f"fills.{fmt}"}
    assert names == expected
    oracle = pl.read_parquet(res.dirs[0] / "_truth" / "oracle.parquet")
    SimOracle.validate(oracle)
    meta = json.loads((res.dirs[0] / "_truth" / "meta.json").read_text())
    assert meta["seed"] == SMALL.seed and meta["date"] == "2024-03-08" and "regimes_in_force" in meta


def test_write_drop_csv_ticks(tmp_path: Path) -> None:
    day = simulate_day(SMALL, date(2024, 3, 5), 0)
    paths = write_drop(day, tmp_path / "2024-03-05", "csv", "csv")
    assert {p.name for p in paths} >= {"quotes.csv", "depth.csv", "trades.csv", "fills.csv", "oracle.parquet"}
    assert pl.read_csv(tmp_path / "2024-03-05" / "quotes.csv").height == day.tables["quotes"].height


def test_big_day_streaming_equals_in_memory(tmp_path: Path) -> None:
    cfg = SimConfig(n_symbols=6, symbol_group_size=2, parent_orders_per_symbol=10, quote_updates_per_symbol=300,
                    trades_per_symbol=50)
    out = write_big_day(cfg, date(2024, 3, 5), 0, tmp_path)
    mem = simulate_day(cfg, date(2024, 3, 5), 0)
    for name in ("quotes", "depth", "trades", "child_orders", "fills", "parent_orders"):
        assert out["rows"][name] == mem.tables[name].height, name
    q = pl.read_parquet(Path(out["day_dir"]) / "quotes.parquet")
    assert q.sort("ts", "symbol", "venue").equals(mem.tables["quotes"].sort("ts", "symbol", "venue"))
    assert pl.read_parquet(Path(out["day_dir"]) / "_truth" / "oracle.parquet").height == mem.oracle.height


@pytest.mark.slow
def test_big_day_scale(tmp_path: Path) -> None:
    """A tenth of a big day (50 symbols, ~2 M quote updates, ~50 k child orders), streamed."""
    cfg = SimConfig(n_symbols=50, quote_updates_per_symbol=40_000, parent_orders_per_symbol=400,
                    trades_per_symbol=4_000)
    out = write_big_day(cfg, date(2024, 3, 5), 0, tmp_path)
    assert out["rows"]["quotes"] > 1_900_000 and out["rows"]["child_orders"] > 40_000
