"""A simulated day written as CSV and as FIX reads back to the same canonical child_orders and fills."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import ChildOrders, Fills
from sor_pipeline.ingest.drop import read_drop
from sor_pipeline.simulation import SimConfig, simulate_day
from sor_pipeline.simulation.drop import write_drop
from sor_pipeline.storage.validation import SOURCE_FILE, SOURCE_LINE

DAY = date(2024, 3, 5)
KEYS = {"child_orders": "child_id", "fills": "exec_id"}


def _canonical(day_dir: Path, table: str) -> pl.DataFrame:
    frame = read_drop(day_dir, DAY).tables[table]
    return frame.drop(SOURCE_FILE, SOURCE_LINE).sort(KEYS[table])


@pytest.fixture(scope="module")
def drops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    simday = simulate_day(SimConfig(), DAY, 0)
    out = {}
    for fmt in ("csv", "fix"):
        day_dir = tmp_path_factory.mktemp(fmt) / DAY.isoformat()
        write_drop(simday, day_dir, exec_format=fmt)  # type: ignore[arg-type]
        out[fmt] = day_dir
    return out


@pytest.mark.parametrize("table", ["child_orders", "fills"])
def test_csv_and_fix_read_back_equal(drops: dict[str, Path], table: str) -> None:
    via_csv, via_fix = _canonical(drops["csv"], table), _canonical(drops["fix"], table)
    assert via_csv.height > 0
    assert via_csv.columns == via_fix.columns
    assert_frame_equal(via_csv, via_fix, check_exact=True)
    model = ChildOrders if table == "child_orders" else Fills
    model.validate(via_csv)
    model.validate(via_fix)


def test_fix_round_trip_equals_simulated(drops: dict[str, Path]) -> None:
    """The FIX reader gives back exactly what the simulator produced (canonical columns)."""
    simday = simulate_day(SimConfig(), DAY, 0)
    for table, key in KEYS.items():
        want = simday.tables[table].select(_canonical(drops["fix"], table).columns).sort(key)
        assert_frame_equal(_canonical(drops["fix"], table), want, check_exact=True)
