"""Lake round trip, idempotent re-writes, crash safety, quarantine, DuckDB views."""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.storage import lake as lake_mod
from sor_pipeline.storage.lake import Lake
from tests.conftest import DAY
from tests.unit.test_schemas import fills, quotes


def _digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_round_trip_and_layout(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    res = lake.write("quotes", quotes(), DAY)
    assert (res.read, res.written, res.quarantined) == (2, 2, 0)
    files = list(tmp_path.glob("quotes/date=2024-03-05/*.parquet"))
    assert len(files) == 1
    back = lake.read("quotes").collect()
    assert back.drop("date").equals(quotes())
    assert back.get_column("date").unique().to_list() == [DAY]
    # the partition key lives in the path only
    assert "date" not in pl.read_parquet(files[0]).columns
    # plain hive parquet: any engine can read it without our code
    raw = pl.scan_parquet(str(tmp_path / "quotes"), hive_partitioning=True).collect()
    assert raw.height == 2


def test_rewrite_is_idempotent(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("fills", fills(), DAY)
    first = _digest(lake.files("fills"))
    lake.write("fills", fills(), DAY)
    assert _digest(lake.files("fills")) == first
    assert lake.read("fills").collect().height == 2
    assert lake.dates("fills") == [DAY]


def test_read_by_dates_and_range(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    days = [date(2024, 3, d) for d in (4, 5, 6)]
    for d in days:
        lake.write("fills", fills(), d)
    assert lake.read("fills", [days[1]]).collect().height == 2
    assert lake.read("fills", start=days[1]).collect().height == 4
    assert lake.read("fills", start=days[0], end=days[1]).collect().height == 4
    assert lake.read("fills", [date(2020, 1, 1)]).collect().height == 0
    assert "px" in lake.read("trades").collect_schema()


def test_crash_during_file_write_leaves_old_partition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(tmp_path)
    lake.write("fills", fills(), DAY)
    before = lake.read_day("fills", DAY)

    def boom(frame: pl.DataFrame, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(lake_mod, "_write_parquet", boom)
    with pytest.raises(OSError):
        lake.write("fills", fills().head(1), DAY)
    monkeypatch.undo()
    assert Lake(tmp_path).read_day("fills", DAY).equals(before)
    assert not (tmp_path / ".staging").exists()


def test_crash_between_renames_recovers_old_partition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(tmp_path)
    lake.write("fills", fills(), DAY)
    before = lake.read_day("fills", DAY)
    real_rename = os.rename
    calls = {"n": 0}

    def rename_then_die(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # old partition moved aside, new one not yet in place: process dies
            raise KeyboardInterrupt("killed")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(lake_mod.os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        lake.write("fills", fills().head(1), DAY)
    monkeypatch.undo()
    assert not lake.partition_dir("fills", DAY).exists()  # the gap a crash leaves ...
    reopened = Lake(tmp_path)  # ... is closed by recovery on open
    assert reopened.read_day("fills", DAY).equals(before)
    assert not any((tmp_path / ".trash").glob("*/*"))


def test_quarantine_keeps_good_rows_and_reasons(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    bad = quotes().with_columns(pl.Series("bid_sz", [-5, 200]),
                                pl.Series("_source_file", ["raw/quotes.csv"] * 2),
                                pl.Series("_source_line", [2, 3]))
    res = lake.write("quotes", bad, DAY)
    assert (res.read, res.written, res.quarantined) == (2, 1, 1)
    q = lake.read("quarantine").collect()
    row = q.row(0, named=True)
    assert row["table"] == "quotes" and row["source_file"] == "raw/quotes.csv" and row["source_line"] == 2
    assert "bid_sz" in row["reason"] and "greater_than_or_equal_to(0)" in row["reason"]
    assert '"bid_sz":-5' in row["row_json"]
    # a clean re-run clears the table's quarantine and leaves other tables' quarantine alone
    lake.write("fills", fills().with_columns(pl.Series("px", [-1.0, 1.0])), DAY)
    lake.write("quotes", quotes(), DAY)
    q2 = lake.read("quarantine").collect()
    assert q2.get_column("table").to_list() == ["fills"]


def test_duckdb_views_and_hash(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("fills", fills(), DAY)
    con = lake.duckdb()
    n, qty = con.execute("select count(*), sum(qty) from fills where date = ?", [DAY]).fetchone()
    assert (n, qty) == (2, 150)
    h1 = lake.partition_hash("fills", DAY)
    lake.write("fills", fills(), DAY)
    assert lake.partition_hash("fills", DAY) == h1 and len(h1) == 64


def test_parse_rejects_are_quarantined_and_counted(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    rejects = pl.DataFrame({
        "table": ["fills"], "source_file": ["drop/exec.fix"], "source_line": [7],
        "checks": ["fix checksum"], "reason": ["10=999 but computed 042"], "row_json": ["8=FIX.4.4|35=8|10=999|"],
    })
    res = lake.write("fills", fills(), DAY, rejects=rejects)
    assert (res.read, res.written, res.quarantined) == (3, 2, 1)
    q = lake.read("quarantine").collect().row(0, named=True)
    assert q["source_line"] == 7 and q["row_index"] is None and q["checks"] == "fix checksum"


def test_nbbo_partitions_are_written_by_symbol_then_time(tmp_path: Path) -> None:
    """nbbo lands sorted by (symbol, ts), stable on ties; other tables (depth, trades) keep their written order."""
    from sor_pipeline.storage.lake import CATALOG, out_of_order
    from tests.fixtures_market import make_day

    day = make_day(DAY, n_symbols=4, n_nbbo=500, n_depth=200, n_parents=4, seed=2)
    lake = Lake(tmp_path)
    assert CATALOG["nbbo"].sort_by == ("symbol", "ts")
    for name in ("nbbo", "depth", "trades"):
        frame = day[name].with_row_index("_i").sample(fraction=1.0, shuffle=True, seed=3)
        assert out_of_order(frame, ["symbol", "ts"])
        lake.replace_partition(name, DAY, frame)
        back = pl.read_parquet(lake.files(name, [DAY])[0])
        if name == "nbbo":
            assert not out_of_order(back, ["symbol", "ts"])
            assert back.equals(frame.sort("symbol", "ts", maintain_order=True))
        else:
            assert back.equals(frame)  # as written
    assert out_of_order(pl.DataFrame({"symbol": ["A", "B", "A"], "ts": [1, 2, 3]}), ["symbol", "ts"])
    assert out_of_order(pl.DataFrame({"symbol": ["A", "A"], "ts": [2, 1]}), ["symbol", "ts"])
    assert not out_of_order(pl.DataFrame({"symbol": ["A", "A", "B"], "ts": [1, 1, 0]}), ["symbol", "ts"])
