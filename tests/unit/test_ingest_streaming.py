"""Streaming ingest: the big tables (quotes, depth, trades, the NBBO, the simulator's truth) read, validated
and staged a chunk at a time give the same partitions, byte for byte, as one chunk per table (today's
whole-table ingest: one validation of the whole table, one NBBO build, one Parquet write)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.ingest.day import IngestError, ingest_day
from sor_pipeline.ingest.drop import read_drop
from sor_pipeline.ingest.nbbo import QuoteSpill, build_nbbo
from sor_pipeline.storage import validation
from sor_pipeline.storage.lake import Lake

RAW = Path(__file__).resolve().parents[2] / "data_samples" / "raw"
DAYS = sorted(date.fromisoformat(p.name) for p in RAW.iterdir() if p.is_dir())
WHOLE = 10**9  # one chunk per table
STAMP = datetime(2024, 3, 1, 12, tzinfo=UTC)


class _FixedClock(datetime):
    @classmethod
    def now(cls, tz: object = None) -> _FixedClock:  # type: ignore[override]
        return cls.fromtimestamp(STAMP.timestamp(), UTC)


@pytest.fixture()
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Quarantine rows carry the time they were quarantined: one fixed time, so quarantine files compare too."""
    monkeypatch.setattr(validation, "datetime", _FixedClock)


def _hashes(home: Path, day: date, raw: Path, chunk_rows: int, **ingest: object) -> tuple[dict[str, str], dict]:
    settings = Settings(home=home, ingest={"chunk_rows": chunk_rows, **ingest})  # type: ignore[arg-type]
    lake = Lake(home / "lake")
    summary = json.loads(json.dumps(ingest_day(day, raw, lake, settings).as_dict()).replace(str(home), "<home>"))
    hashes = {}
    for ds in sorted(p for p in lake.root.iterdir() if not p.name.startswith(".")):
        if lake.exists(ds.name, day):
            hashes[ds.name] = lake.partition_hash(ds.name, day)
    assert not (lake.root / ".staging").exists(), "staging or scratch left behind"
    return hashes, summary


def _count_chunks(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls: dict[str, int] = {}
    split = validation.ChunkedSplit.split

    def counting(self: validation.ChunkedSplit, chunk: pl.DataFrame, *a: object, **k: object) -> pl.DataFrame:
        calls[self.table] = calls.get(self.table, 0) + 1
        return split(self, chunk, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(validation.ChunkedSplit, "split", counting)
    return calls


@pytest.mark.parametrize("day", DAYS, ids=[d.isoformat() for d in DAYS])
def test_streamed_partitions_byte_identical(tmp_path: Path, day: date, fixed_clock: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    whole, whole_summary = _hashes(tmp_path / "whole", day, RAW, WHOLE)
    calls = _count_chunks(monkeypatch)
    tiny, tiny_summary = _hashes(tmp_path / "tiny", day, RAW, 997)
    assert {"child_orders", "quotes", "nbbo", "depth", "trades", "quarantine"} <= set(whole)
    assert tiny == whole
    assert calls["quotes"] > 2 and calls["nbbo"] > 2 and calls["depth"] > 2, calls  # it did stream
    assert tiny_summary == whole_summary


def _corrupt_quotes(src: Path, dst: Path) -> None:
    """A copy of a day whose quotes have rows of another date and crossed books (and, as CSV, values that do
    not parse and broken lines), spread over the file (so over several chunks)."""
    shutil.copytree(src, dst)
    if (dst / "quotes.parquet").exists():
        path = dst / "quotes.parquet"
        q = pl.read_parquet(path).with_row_index("__i")
        kind = pl.when(pl.col("__i") % 211 == 5).then(1).when(pl.col("__i") % 211 == 100).then(2)
        q = q.with_columns(
            pl.when(kind == 1).then(pl.col("ts") - pl.duration(days=3)).otherwise(pl.col("ts")).alias("ts"),
            pl.when(kind == 2).then(pl.col("ask_px") + 1).otherwise(pl.col("bid_px")).alias("bid_px"),
        )
        q.drop("__i").write_parquet(path)
        return
    path = dst / "quotes.csv"
    lines = path.read_text().splitlines()
    for i in range(5, len(lines), 211):
        cells = lines[i].split(",")
        kind = (i // 211) % 4
        if kind == 0:
            cells[3] = "abc"  # bid_px does not parse
        elif kind == 1:
            cells[0] = cells[0].replace(dst.name, "2024-03-01")  # another date
        elif kind == 2:
            cells[3], cells[5] = cells[5], str(float(cells[3]) - 1)  # bid > ask, unflagged
        else:
            cells = cells[:4]  # wrong number of fields: a parse reject
        lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("day", [date(2024, 3, 7), date(2024, 3, 4)], ids=["csv-ticks", "parquet-ticks"])
def test_streamed_quarantine_identical(tmp_path: Path, fixed_clock: None, day: date) -> None:
    raw = tmp_path / "raw"
    _corrupt_quotes(RAW / day.isoformat(), raw / day.isoformat())
    whole, summary = _hashes(tmp_path / "whole", day, raw, WHOLE, max_reject_share=0.5)
    tiny, tiny_summary = _hashes(tmp_path / "tiny", day, raw, 50, max_reject_share=0.5)
    assert tiny == whole
    assert tiny_summary == summary
    q = pl.read_parquet(Lake(tmp_path / "tiny" / "lake").partition_dir("quarantine", day) / "quotes.parquet")
    assert q.height == summary["tables"]["quotes"]["quarantined"] > 20
    assert q.get_column("source_line").null_count() == 0
    if day == date(2024, 3, 7):
        assert q.filter(pl.col("row_index").is_null()).height > 0  # parse rejects come first ...
    assert q.get_column("row_index").drop_nulls().is_sorted()  # ... then rows in table order
    assert q.get_column("row_index").max() > 1000  # counted over the whole table, not the chunk


def test_streamed_reject_share_error_and_nothing_written(tmp_path: Path) -> None:
    day = date(2024, 3, 7)
    raw = tmp_path / "raw"
    _corrupt_quotes(RAW / day.isoformat(), raw / day.isoformat())
    errors = []
    for chunk_rows in (WHOLE, 50):
        home = tmp_path / f"home{chunk_rows}"
        with pytest.raises(IngestError, match=r"quotes: \d+ of \d+ rows rejected") as exc:
            _hashes(home, day, raw, chunk_rows, max_reject_share=0.001)
        errors.append(str(exc.value))
        lake = home / "lake"
        assert not [p for p in lake.rglob("*.parquet")], "a failed ingest wrote something"
    assert errors[0] == errors[1]


@pytest.mark.parametrize("shuffle", [False, True], ids=["feed-order", "shuffled"])
def test_quote_spill_nbbo_equals_build_nbbo(tmp_path: Path, shuffle: bool) -> None:
    quotes = read_drop(RAW / "2024-03-04", date(2024, 3, 4)).tables["quotes"]
    if shuffle:  # not in time order: ties and jumps
        quotes = quotes.sample(fraction=1.0, shuffle=True, seed=3)
    spill = QuoteSpill(tmp_path)
    for off in range(0, quotes.height, 333):
        spill.add(quotes.slice(off, 333))
    streamed = pl.concat(list(spill.nbbo(batch_rows=500)))
    assert streamed.equals(build_nbbo(quotes))


@pytest.mark.parametrize("with_samples", [False, True], ids=["lobster-taq", "lobster-taq-and-samples"])
def test_lobster_and_taq_drops_stream_identically(tmp_path: Path, fixed_clock: None, with_samples: bool) -> None:
    """Many-table files read up front (LOBSTER) and single-table files read as their table streams (TAQ, CSV,
    Parquet) feed one table in read_drop's order."""
    from tests.unit.test_adapters_drop import write_lobster, write_taq

    day = date(2024, 3, 5)
    drop = tmp_path / "raw" / day.isoformat()
    if with_samples:
        shutil.copytree(RAW / day.isoformat(), drop)
    write_lobster(drop)
    write_taq(drop / "taq")
    rows = 997 if with_samples else 1
    whole, summary = _hashes(tmp_path / "whole", day, drop.parent, WHOLE, max_reject_share=1.0)
    tiny, tiny_summary = _hashes(tmp_path / "tiny", day, drop.parent, rows, max_reject_share=1.0)
    assert {"quotes", "nbbo", "depth", "trades"} <= set(whole)
    assert tiny == whole
    assert tiny_summary == summary
