"""Issue 17 fixes outside the bad-input matrix: cache key, lake recovery, empty tables, CLI --end,
Rule 605 escaping, fault-injection names."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from sor_pipeline.cli import app
from sor_pipeline.config.faults import STAGES, FaultConfigError, InjectedFault, injected_stages, maybe_inject
from sor_pipeline.config.settings import Settings
from sor_pipeline.ingest.day import ingest_day
from sor_pipeline.reporting.rule605 import COLUMNS, read_rule605, write_rule605
from sor_pipeline.storage.lake import Lake
from tests.conftest import DAY
from tests.unit.test_reliability_inputs import base_drop, csv_cell
from tests.unit.test_schemas import fills


def _drop(root: Path, bad_px: bool = False) -> Path:
    base_drop(root / DAY.isoformat(), "csv")
    if bad_px:
        csv_cell("fills.csv", 2, "px", "abc")(root / DAY.isoformat())
    return root


def test_ingest_cache_key_follows_the_lake(sor_home: Path, tmp_path: Path) -> None:
    """Bug 1: drop A, then drop B, then A again must not reuse A's cached result."""
    from flows.ingest import ingest_fingerprint

    a, b = _drop(tmp_path / "a", bad_px=True), _drop(tmp_path / "b")
    settings = Settings(ingest={"max_reject_share": 1.0})  # type: ignore[arg-type]
    lake = Lake(settings.lake_root)
    ingest_day(DAY, a, lake, settings)
    key_after_a = ingest_fingerprint(DAY, a)
    ingest_day(DAY, b, lake, settings)
    assert ingest_fingerprint(DAY, a) != key_after_a
    ingest_day(DAY, a, lake, settings)  # the same bytes again: the same key (a re-run stays cached)
    assert ingest_fingerprint(DAY, a) == key_after_a


def test_header_only_table_replaces_the_partition(tmp_path: Path) -> None:
    """Bug 7: a fills file with only its header empties the day's fills instead of keeping the old ones."""
    raw = _drop(tmp_path / "raw")
    settings = Settings()
    lake = Lake(tmp_path / "lake")
    ingest_day(DAY, raw, lake, settings)
    assert lake.read_day("fills", DAY).height == 2
    fills_csv = raw / DAY.isoformat() / "fills.csv"
    fills_csv.write_text(fills_csv.read_text().splitlines()[0] + "\n")
    summary = ingest_day(DAY, raw, lake, settings)
    assert summary.tables["fills"]["written"] == 0
    assert lake.exists("fills", DAY) and lake.read_day("fills", DAY).height == 0


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_opening_the_lake_leaves_a_live_writers_staging_alone(tmp_path: Path) -> None:
    """Bug 3: Lake() recovery acts only on entries of writers that are gone."""
    Lake(tmp_path)
    live = _sleeper()
    try:
        mine = tmp_path / ".staging" / "fills" / f"date={DAY.isoformat()}.{live.pid}-0123456789ab"
        mine.mkdir(parents=True)
        (mine / "part-00000.parquet").write_bytes(b"x")
        dead = tmp_path / ".staging" / "fills" / f"date={DAY.isoformat()}.999999999-0123456789ab"
        dead.mkdir(parents=True)
        Lake(tmp_path)
        assert mine.is_dir() and (mine / "part-00000.parquet").is_file()
        assert not dead.exists()
    finally:
        live.kill()
        live.wait()
    Lake(tmp_path)  # its writer is gone now: cleared, and no empty folders left
    assert not (tmp_path / ".staging").exists()


def test_writes_leave_no_empty_staging_or_trash(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("fills", fills(), DAY)
    lake.write("fills", fills(), DAY)  # a replace goes through .trash
    assert not (tmp_path / ".staging").exists()
    assert not (tmp_path / ".trash").exists()


def test_ingest_end_before_date_is_refused(sor_home: Path) -> None:
    """Bug 9."""
    result = CliRunner().invoke(app, ["ingest", "--date", "2026-03-03", "--end", "2026-03-02"])
    assert result.exit_code == 2
    assert "--end" in result.output and "before" in result.output


def test_rule605_escapes_the_separator(tmp_path: Path) -> None:
    """Bug 15: a symbol holding `|` (or a quote) survives a write and a read."""
    row: dict[str, object] = {c: None for c in COLUMNS}
    row.update(participant="SOR", market_center="SORX", yyyymm="202403", symbol='BRK|B "A"', order_type=11,
               size_bucket=21, covered_orders=1)
    frame = pl.DataFrame([row], schema=COLUMNS)
    back = read_rule605(write_rule605(frame, tmp_path / "r605.txt"))
    assert back.get_column("symbol").to_list() == ['BRK|B "A"']
    assert back.height == 1


def test_inject_fault_refuses_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bug 16: a misspelt stage is refused; every stage the nightly reports can be injected."""
    monkeypatch.setenv("SOR_INJECT_FAULT", "featurse")
    with pytest.raises(FaultConfigError, match="featurse"):
        injected_stages()
    for stage in ("ingest", "registry", "promote", "report"):
        assert stage in STAGES
        monkeypatch.setenv("SOR_INJECT_FAULT", stage)
        with pytest.raises(InjectedFault):
            maybe_inject(stage)


def test_ingest_stage_injects(sor_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from flows.ingest import ingest_task

    monkeypatch.setenv("SOR_INJECT_FAULT", "ingest")
    with pytest.raises(InjectedFault):
        ingest_task.fn(date(2024, 3, 5), str(tmp_path), "fp")
    assert os.environ["SOR_INJECT_FAULT"] == "ingest"
