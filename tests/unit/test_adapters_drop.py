"""read_drop: every file recognised by name and content; ignored names; errors name the path."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import Depth, Quotes, Trades
from sor_pipeline.ingest import (
    EmptyDropError,
    UnrecognisedFileError,
    read_drop,
)
from sor_pipeline.ingest.lobster import midnight_utc_ns, read_lobster
from sor_pipeline.simulation.writers import write_execlog, write_fix_log, write_ticks
from tests.conftest import DAY
from tests.unit.test_adapters_execlog import venues
from tests.unit.test_schemas import children, fills, parents, quotes, trades

LINEAGE = ["_source_file", "_source_line"]
LOB = "TEST_2024-03-05_34200000_57600000_{}_2.csv"


def write_lobster(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOB.format("message")).write_text(
        "34200.000000001,1,11,100,1000000,1\n"
        "34200.5,4,7,40,1001000,-1\n"
        "34200.5,5,0,10,1000500,1\n"
    )
    (folder / LOB.format("orderbook")).write_text(
        "1001000,50,1000000,100,1002000,70,-9999999999,0\n"
        "1001000,10,1000000,100,1002000,70,-9999999999,0\n"
        "1001000,10,1000000,100,1002000,70,-9999999999,0\n"
    )


def write_taq(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "q.csv").write_text(
        "DT_ET,DT_EPOCH_S,EX,BID,BIDSIZ,OFR,OFRSIZ,SYMBOL\n"
        "2024-03-04T15:00:00.000000-0500,1709582400.000000,N,9.99,1,10.01,2,AAA\n"
        "2024-03-05T10:00:00.125000-0500,1709650800.125000,N,9.99,1,10.01,2,AAA\n"
        "2024-03-05T10:00:01.000000-0500,1709650801.000000,P,0.000000,0,10.02,3,AAA\n"
        "2024-03-05T10:00:02.000000-0500,1709650802.000000,Z,10.03,1,10.02,3,AAA\n"
    )
    (folder / "t.csv").write_text(
        "DT_ET,DT_EPOCH_S,EX,SYMBOL,COND,SIZE,PRICE,CORR\n"
        "2024-03-05T10:00:00.500000-0500,1709650800.500000,D,AAA,@,100,10.00,0\n"
        "2024-03-05T10:00:00.600000-0500,1709650800.600000,N,AAA,,200,10.01,1\n"
    )


def test_mixed_drop(tmp_path: Path) -> None:
    day = tmp_path / DAY.isoformat()
    write_execlog({"parent_orders": parents(), "venues": venues()}, day, "csv")
    write_fix_log(children(), fills(), day / "orders.fix", delimiter="|")
    write_ticks("quotes", quotes(), day, "parquet")
    write_ticks("trades", trades(), day, "csv")
    (day / "_truth").mkdir()
    (day / "_truth" / "oracle.parquet").write_bytes(b"not parquet")
    (day / ".DS_Store").write_bytes(b"\x00junk")
    result = read_drop(day, DAY)
    assert set(result.tables) == {"parent_orders", "venues", "child_orders", "fills", "quotes", "trades"}
    assert_frame_equal(result.tables["child_orders"].drop(LINEAGE), children())
    assert_frame_equal(result.tables["quotes"].drop(LINEAGE), quotes())
    for frame in result.tables.values():
        assert frame.columns[-2:] == LINEAGE
        assert frame.schema["_source_line"] == pl.Int64 and frame.get_column("_source_file").null_count() == 0
    formats = {Path(f["path"]).name: f["format"] for f in result.files}
    assert formats == {"parent_orders.csv": "csv", "venues.csv": "csv", "orders.fix": "fix",
                       "quotes.parquet": "parquet", "trades.csv": "csv"}
    assert result.rejects.height == 0


def test_lobster_and_taq_folders(tmp_path: Path) -> None:
    write_lobster(tmp_path / "lob")
    r = read_drop(tmp_path / "lob", DAY)
    Quotes.validate(r.tables["quotes"])
    Depth.validate(r.tables["depth"])
    Trades.validate(r.tables["trades"])
    t0 = midnight_utc_ns(DAY) + 34_200 * 1_000_000_000
    assert t0 == 1_709_649_000_000_000_000  # 09:30 EST = 14:30 UTC
    d = r.tables["depth"]
    assert d.height == 2 and d.item(0, "ts").timestamp() * 1e9 == pytest.approx(t0 + 1, abs=1e3)
    assert d.item(0, "ask_px_2") == 100.2 and d.item(0, "bid_px_2") is None and d.item(0, "bid_sz_2") is None
    assert d.item(0, "bid_px_3") is None
    tr = r.tables["trades"]
    assert tr.get_column("cond").to_list() == ["VISIBLE/BUY", "HIDDEN/SELL"]
    assert tr.get_column("px").to_list() == [100.1, 100.05]
    assert tr.get_column("_source_line").to_list() == [2, 3]

    write_taq(tmp_path / "taq")
    r = read_drop(tmp_path / "taq", DAY)
    q = r.tables["quotes"]
    Quotes.validate(q)
    assert q.get_column("flag").to_list() == [None, "ZERO", "CROSSED"]  # 2024-03-04 row sliced away
    assert q.get_column("venue").to_list() == ["XNYS", "ARCX", "BATS"]
    assert q.get_column("bid_sz").to_list() == [100, 0, 100] and q.get_column("_source_line").to_list() == [3, 4, 5]
    assert q.item(0, "ts").microsecond == 125_000
    assert r.tables["trades"].height == 1
    rej = r.rejects.row(0, named=True)
    assert (rej["table"], rej["checks"], rej["source_line"]) == ("trades", "taq corrected trade", 3)


def test_lobster_direct_matches_drop(tmp_path: Path) -> None:
    write_lobster(tmp_path)
    direct = read_lobster(tmp_path / LOB.format("message"))
    assert direct.tables["quotes"].height == 2


def test_unknown_file_named(tmp_path: Path) -> None:
    write_execlog({"venues": venues()}, tmp_path, "csv")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(UnrecognisedFileError, match=r"notes\.txt"):
        read_drop(tmp_path, DAY)


def test_empty_and_missing_drop_named(tmp_path: Path) -> None:
    (tmp_path / "_truth").mkdir()
    (tmp_path / "_truth" / "x.parquet").write_text("x")
    with pytest.raises(EmptyDropError, match=re.escape(str(tmp_path))):
        read_drop(tmp_path, DAY)
    missing = tmp_path / "2024-03-06"
    with pytest.raises(EmptyDropError, match="2024-03-06"):
        read_drop(missing, date(2024, 3, 6))
