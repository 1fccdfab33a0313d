"""The venue reference (data_samples/venues.csv, setting ingest.venues): the one source of venue codes.
An unknown or inactive code quarantines the child order, naming the code and the file, and its fills;
a drop without a venues table gets the day's from the reference; a bad reference names file:line."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.ingest.day import ingest_day
from sor_pipeline.ingest.venue_ref import (
    DEFAULT_PATH,
    VenueReferenceError,
    active_on,
    day_venues,
    load_venue_reference,
)
from sor_pipeline.storage.lake import Lake

DAY = date(2024, 3, 4)
SRC = Path(__file__).resolve().parents[2] / "data_samples" / "raw" / DAY.isoformat()


def test_default_reference_covers_the_simulator_and_the_day_table() -> None:
    ref = load_venue_reference()
    assert set(ref["venue"]) == {"DRK1", "DRK2", "ECNM", "ECNI", "LITA", "LITB"}
    assert ref.filter(pl.col("venue") == "ECNI")["venue_type"].item() == "INVERTED"
    day = day_venues(ref, DAY)
    sample = pl.read_csv(SRC / "venues.csv")
    assert day.drop("_source_file", "_source_line").sort("venue").equals(sample.sort("venue"))
    assert day["_source_file"].unique().to_list() == [str(DEFAULT_PATH)]


def test_unknown_venue_quarantines_child_and_fills(tmp_path: Path) -> None:
    drop = tmp_path / "raw" / DAY.isoformat()
    drop.mkdir(parents=True)
    shutil.copy(SRC / "parent_orders.csv", drop)
    fills = pl.read_csv(SRC / "fills.csv", infer_schema=False)
    kids = pl.read_csv(SRC / "child_orders.csv", infer_schema=False)
    victim = fills["child_id"][0]
    kids.with_columns(pl.when(pl.col("child_id") == victim).then(pl.lit("XPTY")).otherwise(pl.col("venue"))
                      .alias("venue")).write_csv(drop / "child_orders.csv")
    fills.write_csv(drop / "fills.csv")
    # a reference the desk owns, with LITB retired before the day
    ref = tmp_path / "venues.csv"
    text = DEFAULT_PATH.read_text().replace("LITB,XLTB,Simulated lit exchange B,LIT,-0.1,0.25,2000-01-01,",
                                            "LITB,XLTB,Simulated lit exchange B,LIT,-0.1,0.25,2000-01-01,2024-03-01")
    ref.write_text(text)
    settings = Settings(home=tmp_path / "home", ingest={"venues": ref, "max_reject_share": 0.5})
    lake = Lake(tmp_path / "lake")
    ingest_day(DAY, drop.parent, lake, settings)
    q = lake.read("quarantine", [DAY]).collect()
    bad_kids = q.filter(pl.col("table") == "child_orders")
    lit_b = kids.filter(pl.col("venue") == "LITB").height
    assert bad_kids.height == lit_b + 1
    row = bad_kids.filter(pl.col("row_json").str.contains(victim, literal=True)).row(0, named=True)
    assert row["columns"] == "venue" and "XPTY" in row["reason"] and str(ref) in row["reason"]
    assert row["source_line"] is not None
    bad_fills = q.filter(pl.col("table") == "fills")
    assert bad_fills["row_json"].str.contains(victim, literal=True).any()
    venues = lake.read("venues", [DAY]).collect()
    assert "LITB" not in venues["venue"].to_list() and venues.height == 5


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda t: t.replace(",DARK,0.1,0.1,", ",DARKISH,0.1,0.1,"), "venue_type: 'DARKISH' is not one of"),
    (lambda t: t.replace(",-0.2,0.3,", ",-0.2,abc,"), "column taker_fee_bps: 'abc' is not a Float64"),
    (lambda t: t + "DRK1,XDK1,again,DARK,0.1,0.1,2020-01-01,\n", "venue DRK1 has two rows active"),
])
def test_bad_reference_names_file_line_and_column(tmp_path: Path, edit, needle: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "venues.csv"
    path.write_text(edit(DEFAULT_PATH.read_text()))
    with pytest.raises(VenueReferenceError, match=needle) as exc:
        load_venue_reference(path)
    assert str(path) in str(exc.value)


def test_activity_period() -> None:
    ref = load_venue_reference()
    assert active_on(ref, date(1999, 12, 31)).height == 0 and active_on(ref, DAY).height == 6


def test_static_waterfall_must_name_reference_codes(tmp_path: Path) -> None:
    from sor_pipeline.ingest.day import IngestError

    settings = Settings(home=tmp_path / "home", router={"static_waterfall": ["DRK1", "XMOON"]})
    with pytest.raises(IngestError, match=r"router.static_waterfall names venue\(s\) \['XMOON'\]"):
        ingest_day(DAY, SRC.parent, Lake(tmp_path / "lake"), settings)
