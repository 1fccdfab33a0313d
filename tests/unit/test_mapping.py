"""OMS exports by mapping: a foreign export (own column names, side codes, exchange-local timestamps,
fees per share) reads through tests/fixtures/oms/mapping_example.toml into the same canonical rows as the
native CSV; a value the mapping cannot read is quarantined naming the source column and the value."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from sor_pipeline.ingest.drop import read_drop
from sor_pipeline.ingest.execlog import read_canonical_csv
from sor_pipeline.ingest.mapping import MappingError, load_mapping, read_mapped
from sor_pipeline.storage.validation import PARSE_FAILURES

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2024, 3, 4)
SRC = ROOT / "data_samples" / "raw" / DAY.isoformat()
MAPPING = ROOT / "tests" / "fixtures" / "oms" / "mapping_example.toml"
LOCAL = "%Y%m%d-%H:%M:%S%.9f"
LINEAGE = ["_source_file", "_source_line"]


def _local(col: str) -> pl.Expr:
    return pl.col(col).dt.convert_time_zone("America/New_York").dt.strftime(LOCAL)


def write_export(day_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sample day's child orders and fills as an OMS would export them; returns the native frames."""
    kids = read_canonical_csv(SRC / "child_orders.csv").tables["child_orders"].drop(LINEAGE)
    fills = read_canonical_csv(SRC / "fills.csv").tables["fills"].drop(LINEAGE)
    export_oms(kids, fills, day_dir, "20240304")
    return kids, fills


def export_oms(kids: pl.DataFrame, fills: pl.DataFrame, day_dir: Path, stamp: str) -> None:
    """Canonical child orders and fills written as the example OMS exports them (``oms_orders_<stamp>.csv``,
    ``oms_fills_<stamp>.csv``: its column names and codes, New York local times, fees per share)."""
    kids.select(
        pl.col("child_id").alias("OrderRef"), pl.col("parent_id").alias("ParentRef"), pl.col("symbol").alias("Ticker"),
        pl.when(pl.col("side") == "BUY").then(pl.lit("B")).otherwise(pl.lit("SS")).alias("BuySell"),
        pl.col("venue").alias("Dest"), pl.col("order_type").replace({"MKT": "MARKET", "LMT": "LIMIT"}).alias("OrdType"),
        pl.col("tif").alias("TIF"), pl.col("limit_px").alias("LimitPrice"), pl.col("qty").alias("Shares"),
        _local("sent_ts").alias("SentLocal"), pl.col("router_policy").alias("Policy"),
        pl.col("route_rank").alias("Rank"),
        pl.col("propensity").alias("Prob"), pl.col("predicted_cost_bps").alias("PredBps"),
        pl.col("status").str.slice(0, 1).alias("State"), _local("done_ts").alias("DoneLocal"),
    ).write_csv(day_dir / f"oms_orders_{stamp}.csv")
    fills.select(
        pl.col("exec_id").alias("ExecRef"), pl.col("child_id").alias("OrderRef"), _local("ts").alias("ExecLocal"),
        pl.col("qty").alias("Shares"), pl.col("px").alias("Price"), pl.col("liquidity").str.slice(0, 1).alias("Liq"),
        (pl.col("fee_bps") * pl.col("px") / 1e4).alias("FeePerShare"),
    ).write_csv(day_dir / f"oms_fills_{stamp}.csv")


def test_export_reads_as_the_native_csv(tmp_path: Path) -> None:
    kids, fills = write_export(tmp_path)
    mapping = load_mapping(MAPPING)
    got_kids = read_mapped(tmp_path / "oms_orders_20240304.csv", mapping).tables["child_orders"]
    got_fills = read_mapped(tmp_path / "oms_fills_20240304.csv", mapping).tables["fills"]
    assert PARSE_FAILURES not in got_kids.columns and PARSE_FAILURES not in got_fills.columns
    assert got_kids["_source_line"].head(2).to_list() == [2, 3]
    assert_frame_equal(got_kids.drop(LINEAGE), kids)
    assert_frame_equal(got_fills.drop(LINEAGE), fills, check_exact=False, rtol=1e-9)


def test_drop_with_mapping_and_quarantine_names_source_column(tmp_path: Path) -> None:
    day_dir = tmp_path / DAY.isoformat()
    day_dir.mkdir()
    for name in ("parent_orders.csv", "venues.csv"):
        shutil.copy(SRC / name, day_dir / name)
    write_export(day_dir)
    path = day_dir / "oms_orders_20240304.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(",SS,", ",X,", 1) if ",SS," in lines[3] else lines[3].replace(",B,", ",X,", 1)
    path.write_text("\n".join(lines) + "\n")
    r = read_drop(day_dir, DAY, mapping=load_mapping(MAPPING))
    kids = r.tables["child_orders"]
    assert kids.height == len(lines) - 1 and r.tables["fills"].height > 0 and "parent_orders" in r.tables
    bad = kids.filter(pl.col(PARSE_FAILURES).is_not_null()).row(0, named=True)
    assert bad["_source_line"] == 4 and bad["side"] is None
    assert "side <- 'BuySell'" in bad[PARSE_FAILURES] and "code not in mapping" in bad[PARSE_FAILURES]
    assert bad[PARSE_FAILURES].endswith("X") and '"BuySell":"X"' in bad["_raw_row"]


@pytest.mark.parametrize(("text", "needle"), [
    ("[tables.orders]\nfiles = ['a.csv']\n", "not an execution-log table"),
    ("[tables.fills]\nfiles = ['a.csv']\n[tables.fills.columns]\npx = { column = 'P', unit = 'per_share' }\n",
     "'unit' is for fee_bps only"),
    ("[tables.fills]\nfiles = ['a.csv']\n[tables.fills.columns]\nts = { column = 'T', timezone = 'Mars/Base' }\n",
     "unknown time zone"),
    ("[tables.fills]\nfiles = ['a.csv']\n[tables.fills.columns]\nprice = 'P'\n", "not a column of fills"),
])
def test_bad_mapping_names_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(MappingError, match=needle) as exc:
        load_mapping(path)
    assert str(path) in str(exc.value)
