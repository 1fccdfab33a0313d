"""Tick Parquet/CSV codecs and the streaming TickWriter: round trips equal and valid."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import Depth, Quotes, Trades
from sor_pipeline.ingest import detect_file, read_ticks
from sor_pipeline.simulation.writers import TickWriter, write_ticks
from tests.unit.test_schemas import depth, quotes, trades

LINEAGE = ["_source_file", "_source_line"]
MAKERS = {"quotes": (quotes, Quotes), "depth": (depth, Depth), "trades": (trades, Trades)}


def ns(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns((pl.col("ts").cast(pl.Int64) + 7).cast(pl.Datetime("ns", "UTC")))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("table", sorted(MAKERS))
def test_round_trip(tmp_path: Path, fmt: str, table: str) -> None:
    make, model = MAKERS[table]
    frame = ns(make())
    if table == "depth":  # a thinner book: deeper levels null
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("bid_px_5"),
                                   pl.lit(None, dtype=pl.Int64).alias("bid_sz_5"))
    path = write_ticks(table, frame, tmp_path, fmt)  # type: ignore[arg-type]
    assert path.name == f"{table}.{fmt}"
    found = detect_file(path)
    assert (found.format, found.table) == (fmt, table)
    result = read_ticks(path)
    got = result.tables[table]
    assert_frame_equal(got.drop(LINEAGE), frame)
    model.validate(got)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_streaming_writer_chunks(tmp_path: Path, fmt: str) -> None:
    q = ns(quotes())
    big = pl.concat([q] * 50).with_columns(
        (pl.col("ts").cast(pl.Int64) + pl.int_range(pl.len())).cast(pl.Datetime("ns", "UTC")))
    with TickWriter(tmp_path, "quotes", fmt) as w:  # type: ignore[arg-type]
        for chunk in big.iter_slices(17):
            w.write(chunk)
    assert w.rows == big.height
    renamed = w.path.rename(tmp_path / f"feed_a.{fmt}")  # recognised by columns, not name
    got = read_ticks(renamed).tables["quotes"]
    assert_frame_equal(got.drop(LINEAGE), big)
