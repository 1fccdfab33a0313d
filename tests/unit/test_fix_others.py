"""FIX messages written by others (tests/fixtures/fix_others, sources in its README) and every version
read (4.2, 4.4, 5.0 SP2 over FIXT.1.1) through a full order life: partial fills, cancel/replace chain,
trade bust and correction, unsolicited cancel, reject; dictionary checks naming the tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from sor_pipeline.ingest.fix import read_fix_log
from sor_pipeline.ingest.fix_codec import encode_message, parse_fix_time

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fix_others"


def _reframe(line: str) -> str:
    """Recompute 9 and 10 of a ``|``-delimited message (for samples whose framing is illustrative)."""
    parts = [p.split("=", 1) for p in line.strip().rstrip("|").split("|")]
    return encode_message(parts[0][1], [(t, v) for t, v in parts if t not in ("8", "9", "10")], "|")


def _rows(result: object, table: str) -> dict[str, dict]:
    frame = result.tables[table]  # type: ignore[attr-defined]
    key = "child_id" if table == "child_orders" else "exec_id"
    return {r[key]: r for r in frame.iter_rows(named=True)}


def test_emulator_session_log_fix42_fix44() -> None:
    path = FIXTURES / "orderecho_fix42_fix44.log"
    r = read_fix_log(path)
    kids, fills = _rows(r, "child_orders"), _rows(r, "fills")
    assert set(kids) == {"DEMO-1791076434055-1", "DEMO-1791076435419-1", "DEMO-1791076456055-1"}
    ioc = kids["DEMO-1791076434055-1"]
    assert (ioc["side"], ioc["qty"], ioc["order_type"], ioc["tif"], ioc["symbol"]) == ("BUY", 1000, "MKT", "IOC", "EFG")
    assert ioc["status"] == "PARTIAL" and ioc["done_ts"].isoformat().startswith("2026-10-04T01:13:55.228")
    assert ioc["parent_id"] is None and ioc["venue"] is None and ioc["propensity"] is None
    assert kids["DEMO-1791076435419-1"]["status"] == "CANCELLED" and kids["DEMO-1791076435419-1"]["tif"] == "IOC"
    gtd = kids["DEMO-1791076456055-1"]
    assert gtd["status"] == "CANCELLED" and gtd["limit_px"] == 10.0 and gtd["order_type"] == "LMT"
    assert list(fills) == ["E-20261004-011347-3"]
    f = fills["E-20261004-011347-3"]
    assert (f["child_id"], f["qty"], f["px"], f["liquidity"], f["fee_bps"]) == (
        "DEMO-1791076434055-1", 400, 121.08, None, None)
    assert int(f["ts"].timestamp() * 1000) == parse_fix_time("20261004-01:13:55.227") // 1_000_000
    # the reject of an order that is not in the log is refused naming it; the 4.4 status reply is skipped
    assert r.rejects.height == 1
    rej = r.rejects.row(0, named=True)
    assert rej["checks"] == "fix unknown order" and rej["source_line"] == 10
    assert f"{path}:10 (MsgSeqNum 34=2)" in rej["reason"] and "DEMO-1791076448358-1" in rej["reason"]
    assert rej["row_json"].startswith("20261004-01:14:08.360 OUT")


def test_illustrative_samples_refused_by_checksum_then_parse_reframed(tmp_path: Path) -> None:
    path = FIXTURES / "fixreader_fix42_illustrative.log"
    r = read_fix_log(path)
    assert r.tables["child_orders"].height == 0 and r.rejects.height == 8
    assert set(r.rejects["checks"]) == {"fix checksum"}
    assert "bad checksum 10=128, computed 000" in r.rejects["reason"][0]
    fixed = tmp_path / "reframed.log"
    fixed.write_text("\n".join(_reframe(line) for line in path.read_text().splitlines()) + "\n")
    r = read_fix_log(fixed)
    assert r.rejects.height == 0
    kids, fills = _rows(r, "child_orders"), _rows(r, "fills")
    assert list(kids) == ["ORD-001"]  # REP-001 and CXL-001 are the same child (41 OrigClOrdID chain)
    kid = kids["ORD-001"]
    assert (kid["qty"], kid["limit_px"], kid["status"]) == (300, 179.0, "PARTIAL")  # replaced, then cancelled
    assert list(fills) == ["EXEC-002"] and fills["EXEC-002"]["qty"] == 200 and fills["EXEC-002"]["px"] == 178.48


def test_fixt11_execution_report_from_a_session_library(tmp_path: Path) -> None:
    report = (FIXTURES / "elixir_fixt11_execution_report.txt").read_text().strip().replace("9=$$$|", "")
    report = report.replace("|10=$$$|", "|")
    order = encode_message("FIXT.1.1", [("35", "D"), ("1128", "9"), ("11", "clordid12345"), ("583", "PAR-1"),
                                        ("55", "Symbol1"), ("54", "1"), ("38", "5"), ("40", "2"), ("44", "18050"),
                                        ("59", "0"), ("60", "20161007-16:28:50.700"), ("100", "XEUR")], "|")
    path = tmp_path / "fixt.log"
    path.write_text(order + "\n" + _reframe(report) + "\n")
    r = read_fix_log(path)
    assert r.rejects.height == 0
    kid = _rows(r, "child_orders")["clordid12345"]
    assert (kid["parent_id"], kid["venue"], kid["status"], kid["qty"]) == ("PAR-1", "XEUR", "FILLED", 5)
    fill = _rows(r, "fills")["T3231110"]
    assert (fill["qty"], fill["px"], fill["child_id"]) == (5, 18050.0, "clordid12345")


# -------------------------------------------------------------------------------------------------
# one order life per version, standard tags only
def _life(version: str) -> list[list[tuple[str, str]]]:
    fix42 = version == "FIX.4.2"
    head = [("1128", "9")] if version == "FIXT.1.1" else []
    fill_type = [("20", "0"), ("150", "1")] if fix42 else [("150", "F")]
    ts = "20240306-15:00:0{}.000"
    d = [("35", "D"), *head, ("49", "SOR"), ("56", "XNAS"), ("34", "1"), ("11", "A1"), ("526", "PARENT-1"),
         ("55", "AAA"), ("54", "2"), ("38", "300"), ("40", "2"), ("44", "10.05"), ("59", "0"),
         ("60", ts.format(0)), ("100", "XNAS")]

    def rep(seq: int, clord: str, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [("35", "8"), *head, ("34", str(seq)), ("37", "V1"), ("11", clord), ("55", "AAA"), ("54", "2"),
                *extra]

    fill1 = rep(2, "A1", [("17", "X1"), *fill_type, ("39", "1"), ("32", "100"), ("31", "10.05"), ("30", "XNAS"),
                          ("851", "1"), ("12", "0.002"), ("13", "1"), ("60", ts.format(1))])
    g = [("35", "G"), *head, ("34", "3"), ("11", "A2"), ("41", "A1"), ("55", "AAA"), ("54", "2"), ("38", "200"),
         ("40", "2"), ("44", "10.04"), ("60", ts.format(2))]
    replaced = rep(4, "A2", [("41", "A1"), ("17", "X2"), *([("20", "0")] if fix42 else []), ("150", "5"),
                             ("39", "1"), ("38", "200"), ("44", "10.04"), ("14", "100"), ("60", ts.format(2))])
    fill2 = rep(5, "A2", [("17", "X3"), *fill_type, ("39", "1"), ("32", "50"), ("31", "10.04"), ("851", "2"),
                          ("12", "0.003"), ("13", "1"), ("60", ts.format(3))])
    bust = rep(6, "A2", [("17", "X4"), ("19", "X3"), *([("20", "1"), ("150", "1")] if fix42 else [("150", "H")]),
                         ("39", "1"), ("32", "50"), ("31", "10.04"), ("60", ts.format(4))])
    correct = rep(7, "A2", [("17", "X5"), ("19", "X1"), *([("20", "2"), ("150", "1")] if fix42 else [("150", "G")]),
                            ("39", "1"), ("32", "90"), ("31", "10.06"), ("851", "1"), ("60", ts.format(5))])
    cancel = rep(8, "A2", [("17", "X6"), *([("20", "0")] if fix42 else []), ("150", "4"), ("39", "4"),
                           ("14", "90"), ("60", ts.format(6))])
    reject_d = [("35", "D"), *head, ("34", "9"), ("11", "B1"), ("526", "PARENT-1"), ("55", "AAA"), ("54", "2"),
                ("38", "10"), ("40", "1"), ("60", ts.format(7)), ("100", "XNAS")]
    reject = rep(10, "B1", [("17", "X7"), *([("20", "0")] if fix42 else []), ("150", "8"), ("39", "8"),
                            ("58", "venue closed"), ("60", ts.format(8))])
    return [d, fill1, g, replaced, fill2, bust, correct, cancel, reject_d, reject]


@pytest.mark.parametrize("version", ["FIX.4.2", "FIX.4.4", "FIXT.1.1"])
def test_order_life_per_version(tmp_path: Path, version: str) -> None:
    path = tmp_path / "drop.log"
    path.write_text("\n".join(encode_message(version, m) for m in _life(version)) + "\n")
    r = read_fix_log(path)
    assert r.rejects.height == 0, r.rejects["reason"].to_list()
    kids, fills = _rows(r, "child_orders"), _rows(r, "fills")
    assert set(kids) == {"A1", "B1"}
    a = kids["A1"]
    assert (a["qty"], a["limit_px"], a["status"], a["venue"], a["parent_id"]) == (200, 10.04, "PARTIAL", "XNAS",
                                                                                  "PARENT-1")
    assert a["router_policy"] is None and a["route_rank"] is None and a["propensity"] is None
    assert kids["B1"]["status"] == "REJECTED"
    assert list(fills) == ["X5"]  # X3 busted; X1 corrected into X5 (qty, px), keeping its time
    x5 = fills["X5"]
    assert (x5["qty"], x5["px"], x5["liquidity"], x5["child_id"]) == (90, 10.06, "ADD", "A1")
    assert x5["ts"].isoformat().startswith("2024-03-06T15:00:01")


@pytest.mark.parametrize(("version", "exec_type"), [("FIX.4.2", "F"), ("FIX.4.4", "1"), ("FIXT.1.1", "2")])
def test_dictionary_refuses_a_value_of_another_version(tmp_path: Path, version: str, exec_type: str) -> None:
    msgs = _life(version)[:2]
    msgs[1] = [(t, exec_type if t == "150" else v) for t, v in msgs[1] if t != "20"]
    path = tmp_path / "drop.log"
    path.write_text("\n".join(encode_message(version, m) for m in msgs) + "\n")
    r = read_fix_log(path)
    rej = r.rejects.row(0, named=True)
    assert r.rejects.height == 1 and rej["checks"] == "fix enum" and rej["source_line"] == 2
    assert f"150 (ExecType)={exec_type!r} is not a valid value" in rej["reason"] and "MsgSeqNum 34=2" in rej["reason"]
    assert rej["row_json"] == path.read_text().splitlines()[1]


def test_bad_type_names_tag_and_version(tmp_path: Path) -> None:
    msgs = _life("FIX.4.4")[:1]
    msgs[0] = [(t, "1O0" if t == "38" else v) for t, v in msgs[0]]
    path = tmp_path / "drop.log"
    path.write_text(encode_message("FIX.4.4", msgs[0]) + "\n")
    rej = read_fix_log(path).rejects.row(0, named=True)
    assert rej["checks"] == "fix type" and "38 (OrderQty)='1O0' is not a QTY (FIX.4.4)" in rej["reason"]


def test_unknown_version_refused(tmp_path: Path) -> None:
    path = tmp_path / "drop.log"
    path.write_text(encode_message("FIX.4.1", _life("FIX.4.4")[0]) + "\n")
    rej = read_fix_log(path).rejects.row(0, named=True)
    assert rej["checks"] == "fix version" and "8='FIX.4.1' is not read" in rej["reason"]


def test_row_missing_a_standard_tag_keeps_its_fix_line(tmp_path: Path) -> None:
    """A child whose parent link (526/583) is missing reads with a null parent_id and keeps the FIX line
    in ``_raw_row``, which the quarantine stores as the original text; a clean log has no such column."""
    from sor_pipeline.storage.validation import RAW_ROW

    msgs = _life("FIX.4.4")
    msgs[0] = [(t, v) for t, v in msgs[0] if t != "526"]
    path = tmp_path / "drop.log"
    lines = [encode_message("FIX.4.4", m) for m in msgs]
    path.write_text("\n".join(lines) + "\n")
    kids = read_fix_log(path).tables["child_orders"]
    a = kids.filter(kids["child_id"] == "A1").row(0, named=True)
    assert a["parent_id"] is None and a[RAW_ROW] == lines[0]
    assert kids.filter(kids["child_id"] == "B1")[RAW_ROW].item() is None
    path.write_text("\n".join(encode_message("FIX.4.4", m) for m in _life("FIX.4.4")) + "\n")
    assert RAW_ROW not in read_fix_log(path).tables["child_orders"].columns
