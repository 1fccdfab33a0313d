"""LOBSTER and TAQ adapters on the real public files (SOR_REAL_DATA=../shared/data/real)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from schemas import Depth, Nbbo, Quotes, Trades
from sor_pipeline.ingest import build_nbbo, read_drop, read_lobster, read_taq_quotes, read_taq_trades

pytestmark = pytest.mark.realdata

LOBSTER_DAY = date(2012, 6, 21)
MESSAGES = {("GOOG", 1): 49_482, ("GOOG", 5): 112_673, ("GOOG", 10): 147_916, ("AMZN", 1): 57_515,
            ("AMZN", 5): 155_935}
SESSION_UTC = ("2012-06-21 13:30:00", "2012-06-21 20:00:00")  # 09:30-16:00 EDT


def _message_file(real: Path, symbol: str, levels: int) -> Path:
    folder = real / "lobster" / f"{symbol}_2012-06-21_{levels}"
    files = sorted(folder.glob(f"*_message_{levels}.csv"))
    if not files:
        pytest.skip(f"{folder} has no LOBSTER message file")
    return files[0]


@pytest.mark.parametrize(("symbol", "levels"), sorted(MESSAGES))
def test_lobster_pair(real_data: Path, symbol: str, levels: int) -> None:
    r = read_lobster(_message_file(real_data, symbol, levels))
    q, d, t = r.tables["quotes"], r.tables["depth"], r.tables["trades"]
    Quotes.validate(q)
    Depth.validate(d)
    Trades.validate(t)
    assert r.files[0]["rows"]["messages"] == MESSAGES[(symbol, levels)]
    assert 0 < q.height <= MESSAGES[(symbol, levels)] and 0 < d.height <= MESSAGES[(symbol, levels)]
    assert 0 < t.height < MESSAGES[(symbol, levels)]
    lo, hi = (pl.lit(s).str.to_datetime(time_unit="ns", time_zone="UTC") for s in SESSION_UTC)
    for frame in (q, d, t):
        assert frame.select(((pl.col("ts") >= lo) & (pl.col("ts") < hi)).all()).item()
        assert frame.get_column("symbol").unique().to_list() == [symbol]
        assert frame.get_column("venue").unique().to_list() == ["XNAS"]
    assert q.get_column("flag").null_count() == q.height  # README: never crossed or locked, never empty
    nbbo = build_nbbo(q)
    Nbbo.validate(nbbo)
    assert nbbo.filter(pl.col("flag") == "CROSSED").height == 0
    if levels == 1:
        assert d.select(pl.col("bid_px_2").is_null().all()).item()
    else:
        assert d.select(pl.col("ask_px_5").is_not_null().mean()).item() > 0.9


def test_lobster_levels_agree(real_data: Path) -> None:
    """10-level file keeps the first 5 levels: same depth as the 5-level file; same trades at all depths."""
    d5 = read_lobster(_message_file(real_data, "GOOG", 5)).tables["depth"].drop("_source_file", "_source_line")
    r10 = read_lobster(_message_file(real_data, "GOOG", 10))
    d10 = r10.tables["depth"].drop("_source_file", "_source_line")
    assert d10.equals(d5)
    t1 = read_lobster(_message_file(real_data, "GOOG", 1)).tables["trades"]
    assert t1.height == r10.tables["trades"].height


def test_taq(real_data: Path) -> None:
    qpath, tpath = real_data / "taq" / "sampleQDataRaw.csv", real_data / "taq" / "sampleTDataRaw.csv"
    if not qpath.is_file() or not tpath.is_file():
        pytest.skip("TAQ sample files missing")
    all_q = read_taq_quotes(qpath).tables["quotes"]
    assert all_q.height == 131_401
    assert all_q.filter(pl.col("flag") == "ZERO").height == 96
    all_t = read_taq_trades(tpath)
    assert all_t.tables["trades"].height + all_t.rejects.height == 77_263 and all_t.rejects.height == 2
    days = [date(2018, 1, 2), date(2018, 1, 3)]
    per_day = [read_taq_quotes(qpath, d).tables["quotes"] for d in days]
    assert sum(f.height for f in per_day) == all_q.height
    for d, q in zip(days, per_day, strict=True):
        Quotes.validate(q)
        local = q.select(pl.col("ts").dt.convert_time_zone("America/New_York").dt.date().unique()).to_series()
        assert local.to_list() == [d]
        assert q.get_column("venue").n_unique() >= 12
        nbbo = build_nbbo(q)
        Nbbo.validate(nbbo)
        assert nbbo.height > 1_000
        regular = nbbo.filter(pl.col("ts").dt.convert_time_zone("America/New_York").dt.hour().is_between(10, 15))
        # the sample's venues update sparsely, so stale quotes leave many LOCKED/CROSSED states (~40-60%)
        assert regular.filter(pl.col("flag").is_null()).height / regular.height > 0.3
        assert nbbo.select((pl.col("bid_px") > 0).all() & (pl.col("ask_px") > 0).all()).item()
    trades = read_taq_trades(tpath, days[0]).tables["trades"]
    Trades.validate(trades)


def _symlink_drop(tmp_path: Path, sources: list[Path]) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir()
    for src in sources:
        (drop / src.name).symlink_to(src)
    return drop


def test_read_drop_lobster_folder(real_data: Path, tmp_path: Path) -> None:
    msg = _message_file(real_data, "AMZN", 5)
    drop = _symlink_drop(tmp_path, [msg, Path(str(msg).replace("_message_", "_orderbook_"))])
    r = read_drop(drop, LOBSTER_DAY)
    assert set(r.tables) == {"quotes", "depth", "trades"}
    Depth.validate(r.tables["depth"])
    assert {f["format"] for f in r.files} == {"lobster-message", "lobster-orderbook"}


def test_read_drop_taq_folder(real_data: Path, tmp_path: Path) -> None:
    drop = _symlink_drop(tmp_path, [real_data / "taq" / "sampleQDataRaw.csv", real_data / "taq" / "sampleTDataRaw.csv"])
    r = read_drop(drop, date(2018, 1, 3))
    Quotes.validate(r.tables["quotes"])
    Trades.validate(r.tables["trades"])
    assert r.tables["quotes"].height == 64_706 and r.rejects.height == 2
    assert set(r.rejects.get_column("checks")) == {"taq corrected trade"}
