"""FIX tag=value codec: exact round trip (4.2/4.4, SOH/|), and line-level rejects with reasons."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import ChildOrders, Fills
from sor_pipeline.ingest import detect_file, read_fix_log
from sor_pipeline.ingest.fix_codec import checksum, decode_message, fix_time, parse_fix_time
from sor_pipeline.simulation.writers import write_fix_log
from tests.unit.test_adapters_execlog import ns_children
from tests.unit.test_schemas import fills

LINEAGE = ["_source_file", "_source_line"]


def many_children() -> pl.DataFrame:
    c = ns_children()
    extra = c.with_columns(pl.Series("child_id", ["C3", "C4"]), pl.Series("status", ["CANCELLED", "REJECTED"]),
                           pl.Series("venue", ["ECN1", "LITB"]),
                           pl.Series("predicted_cost_bps", [None, -0.75]),
                           pl.Series("router_policy", ["model:7", "model:7/explore"]))
    return pl.concat([c, extra])


def ns_fills() -> pl.DataFrame:
    f = fills().with_columns((pl.col("ts").cast(pl.Int64) + 999_999_999).cast(pl.Datetime("ns", "UTC")))
    more = f.head(1).with_columns(pl.lit("E3").alias("exec_id"), pl.lit("C2").alias("child_id"),
                                  pl.lit("REMOVE").alias("liquidity"), pl.lit(0.3).alias("fee_bps"),
                                  pl.lit(10.0999).alias("px"), pl.lit(25, dtype=pl.Int64).alias("qty"))
    return pl.concat([f, more])


@pytest.mark.parametrize("begin_string", ["FIX.4.2", "FIX.4.4"])
@pytest.mark.parametrize("delimiter", ["\x01", "|"])
def test_round_trip_exact(tmp_path: Path, begin_string: str, delimiter: str) -> None:
    kids, fl = many_children(), ns_fills()
    path = write_fix_log(kids, fl, tmp_path / "orders.fix", begin_string=begin_string, delimiter=delimiter)
    text = path.read_text()
    assert text.startswith(f"8={begin_string}{delimiter}9=")
    fill_type = "150=F" if begin_string == "FIX.4.4" else "150=2"
    assert f"{delimiter}{fill_type}{delimiter}" in text
    assert detect_file(path).format == "fix"
    result = read_fix_log(path)
    assert result.rejects.height == 0
    got_kids = result.tables["child_orders"]
    got_fills = result.tables["fills"]
    assert_frame_equal(got_kids.drop(LINEAGE).sort("child_id"), kids.sort("child_id"))
    assert_frame_equal(got_fills.drop(LINEAGE).sort("exec_id"), fl.sort("exec_id"))
    ChildOrders.validate(got_kids)
    Fills.validate(got_fills)
    assert got_fills.schema["_source_line"] == pl.Int64


def test_in_time_order_input_round_trips_row_for_row(tmp_path: Path) -> None:
    kids, fl = many_children(), ns_fills().sort("ts", maintain_order=True)
    result = read_fix_log(write_fix_log(kids, fl, tmp_path / "x.fix"))
    assert_frame_equal(result.tables["child_orders"].drop(LINEAGE), kids)
    assert_frame_equal(result.tables["fills"].drop(LINEAGE), fl)


def test_framing_body_length_and_checksum(tmp_path: Path) -> None:
    path = write_fix_log(many_children(), ns_fills(), tmp_path / "x.fix", delimiter="\x01")
    for line in path.read_text().splitlines():
        msg = decode_message(line)  # raises on a wrong 9 or 10
        body = line[line.index("\x0135=") + 1: line.rindex("\x0110=") + 1]
        assert int(msg["9"]) == len(body.encode())
        assert int(msg["10"]) == checksum(line[: line.rindex("\x0110=") + 1].encode())


def test_fix_time() -> None:
    ns = 1_709_650_800_123_456_789
    assert fix_time(ns) == "20240305-15:00:00.123456789"
    assert parse_fix_time(fix_time(ns)) == ns
    assert parse_fix_time("20240305-15:00:00.5") == 1_709_650_800_500_000_000
    assert parse_fix_time("20240305-15:00:00") == 1_709_650_800_000_000_000


def _corrupt(lines: list[str], index: int, old: str, new: str) -> None:
    assert old in lines[index]
    lines[index] = lines[index].replace(old, new, 1)


def test_bad_lines_rejected_with_reason_and_line_rest_loads(tmp_path: Path) -> None:
    path = write_fix_log(many_children(), ns_fills(), tmp_path / "x.fix", delimiter="|")
    lines = path.read_text().splitlines()
    fill_lines = [i for i, ln in enumerate(lines) if "|150=F|" in ln]
    new_lines = [i for i, ln in enumerate(lines) if "|35=D|" in ln]
    # 1) bad checksum on a fill
    i_sum = fill_lines[0]
    lines[i_sum] = lines[i_sum][: lines[i_sum].rindex("|10=") + 4] + "000|"
    # 2) missing required tag (ClOrdID) on a NewOrderSingle; recompute framing so only the tag is missing
    i_new = new_lines[-1]
    msg = decode_message(lines[i_new])
    from sor_pipeline.ingest.fix_codec import encode_message
    fields = [(t, v) for t, v in _ordered(lines[i_new]) if t not in ("8", "9", "10", "54")]
    lines[i_new] = encode_message(msg["8"], fields, "|")
    # 3) execution report for an unknown order
    extra = [(t, "C999" if t == "11" else ("E999" if t == "17" else v))
             for t, v in _ordered(lines[fill_lines[1]]) if t not in ("8", "9", "10")]
    lines.append(encode_message("FIX.4.4", extra, "|"))
    path.write_text("\n".join(lines) + "\n")

    result = read_fix_log(path)
    rej = {r["checks"]: r for r in result.rejects.iter_rows(named=True)}
    assert set(rej) == {"fix checksum", "fix missing tag", "fix unknown order"}
    assert rej["fix checksum"]["source_line"] == i_sum + 1 and rej["fix checksum"]["table"] == "fills"
    assert rej["fix missing tag"]["source_line"] == i_new + 1 and "54" in rej["fix missing tag"]["reason"]
    assert rej["fix unknown order"]["source_line"] == len(lines) and "C999" in rej["fix unknown order"]["reason"]
    for r in rej.values():
        assert f"{path}:{r['source_line']}" in r["reason"]
        assert r["row_json"] == lines[r["source_line"] - 1]
    # the rest still loads
    n_kids = many_children().height
    assert result.tables["child_orders"].height == n_kids - 1
    assert result.tables["fills"].height == ns_fills().height - 1
    ChildOrders.validate(result.tables["child_orders"])


def _ordered(line: str) -> list[tuple[str, str]]:
    return [tuple(p.split("=", 1)) for p in line.rstrip("|").split("|")]  # type: ignore[misc]


def test_commission_fallback_and_derived_status(tmp_path: Path) -> None:
    """Without the custom fee/status tags, fee comes from 12/13 and status from the fills."""
    from sor_pipeline.ingest.fix_codec import encode_message
    d = [("35", "D"), ("11", "K1"), ("526", "P1"), ("55", "AAA"), ("54", "2"), ("38", "100"), ("40", "1"),
         ("60", "20240305-15:00:00.000000001"), ("100", "XNAS"), ("20002", "static"), ("20003", "1"),
         ("20004", "1.0")]
    f = [("35", "8"), ("11", "K1"), ("17", "X1"), ("150", "F"), ("39", "2"), ("31", "20.0"), ("32", "100"),
         ("60", "20240305-15:00:00.5"), ("851", "2"), ("12", "0.02"), ("13", "1")]
    path = tmp_path / "venue.log"
    path.write_text("\n".join(encode_message("FIX.4.4", m, "\x01") for m in (d, f)) + "\n")
    r = read_fix_log(path)
    fill = r.tables["fills"].row(0, named=True)
    assert fill["liquidity"] == "REMOVE" and fill["fee_bps"] == pytest.approx(10.0)
    kid = r.tables["child_orders"].row(0, named=True)
    assert kid["status"] == "FILLED" and kid["tif"] == "DAY" and kid["side"] == "SELL"
