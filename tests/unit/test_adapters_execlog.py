"""Execution-log CSV/JSONL codecs: writer and reader are inverses; tables recognised by content."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import TABLE_SCHEMAS
from sor_pipeline.ingest import UnrecognisedFileError, detect_file, read_execlog
from sor_pipeline.simulation.writers import write_execlog
from tests.unit.test_schemas import children, fills, parents

LINEAGE = ["_source_file", "_source_line"]


def venues() -> pl.DataFrame:
    return pl.DataFrame({"venue": ["DRK1", "LITA"], "venue_type": ["DARK", "LIT"],
                         "maker_fee_bps": [0.0, -0.2], "taker_fee_bps": [0.1, 0.3]})


def ns_children() -> pl.DataFrame:
    """Child orders with sub-microsecond timestamps (nanoseconds must survive the text codecs)."""
    c = children()
    return c.with_columns(
        (pl.col("sent_ts").cast(pl.Int64) + 123).cast(pl.Datetime("ns", "UTC")).alias("sent_ts"),
        (pl.col("done_ts").cast(pl.Int64) + 456_789).cast(pl.Datetime("ns", "UTC")).alias("done_ts"),
        pl.Series("predicted_cost_bps", [1.2345678901234567, None]),
    )


def tables() -> dict[str, pl.DataFrame]:
    return {"parent_orders": parents(), "child_orders": ns_children(), "fills": fills(), "venues": venues()}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_round_trip_equal_and_valid(tmp_path: Path, fmt: str) -> None:
    paths = write_execlog(tables(), tmp_path, fmt)  # type: ignore[arg-type]
    assert [p.name for p in paths] == [f"{t}.{fmt}" for t in ("parent_orders", "child_orders", "fills", "venues")]
    for path in paths:
        result = read_execlog(path)
        ((table, frame),) = result.tables.items()
        assert path.stem == table
        assert_frame_equal(frame.drop(LINEAGE), tables()[table])
        TABLE_SCHEMAS[table].validate(frame)
        assert frame.get_column("_source_file").unique().to_list() == [str(path)]
        first_line = 2 if fmt == "csv" else 1
        assert frame.get_column("_source_line").to_list() == list(range(first_line, first_line + frame.height))
        assert frame.schema["_source_line"] == pl.Int64


def test_text_layout(tmp_path: Path) -> None:
    write_execlog({"child_orders": ns_children()}, tmp_path, "csv")
    lines = (tmp_path / "child_orders.csv").read_text().splitlines()
    assert lines[0].split(",") == list(ns_children().columns)
    assert "2024-03-05T15:00:00.000000123Z" in lines[1]
    assert lines[2].endswith("PARTIAL,")  # null done_ts -> empty field
    write_execlog({"child_orders": ns_children()}, tmp_path, "jsonl")
    assert '"done_ts":null' in (tmp_path / "child_orders.jsonl").read_text()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_renamed_file_recognised_by_content(tmp_path: Path, fmt: str) -> None:
    (path,) = write_execlog({"fills": fills()}, tmp_path, fmt)  # type: ignore[arg-type]
    renamed = path.rename(tmp_path / f"export_0001.{fmt}")
    found = detect_file(renamed)
    assert (found.format, found.table) == (fmt, "fills")
    ((table, frame),) = read_execlog(renamed).tables.items()
    assert table == "fills"
    assert_frame_equal(frame.drop(LINEAGE), fills())


def test_bad_jsonl_line_rejected_rest_loads(tmp_path: Path) -> None:
    (path,) = write_execlog({"fills": fills()}, tmp_path, "jsonl")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", lines[1]]) + "\n")
    result = read_execlog(path)
    assert result.tables["fills"].get_column("_source_line").to_list() == [1, 3]
    rej = result.rejects.row(0, named=True)
    assert (rej["source_line"], rej["checks"], rej["row_json"]) == (2, "jsonl parse", "{not json")
    assert str(path) in rej["reason"]


def test_unknown_header_names_file(tmp_path: Path) -> None:
    path = tmp_path / "mystery.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(UnrecognisedFileError, match=r"mystery\.csv"):
        detect_file(path)
