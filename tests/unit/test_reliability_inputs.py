"""Bad-input matrix: one tiny good drop per source format, one hostile edit per case.

Each case asserts its outcome through ``ingest_day``: either the bad row is quarantined with its table,
file, line, column, check and original text, every good row is written and the bad value is nowhere in
the lake; or the day is refused with one clear message naming the file and the problem, and the lake
is untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.ingest import fix_codec as fx
from sor_pipeline.ingest.base import DropError
from sor_pipeline.ingest.day import IngestError, ingest_day
from sor_pipeline.simulation.writers import write_execlog, write_fix_log, write_ticks
from sor_pipeline.storage.lake import Lake
from sor_pipeline.storage.validation import ContractError
from tests.conftest import DAY
from tests.unit.test_adapters_drop import LOB, write_lobster, write_taq
from tests.unit.test_adapters_execlog import venues
from tests.unit.test_mapping import MAPPING, export_oms
from tests.unit.test_schemas import T1, children, depth, fills, parents, quotes, trades

Edit = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    id: str
    fmt: str  # csv | jsonl | fix | tick-csv | tick-parquet | lobster | taq | mapped (an OMS export by mapping)
    edit: Edit
    table: str | None = None  # quarantined row's table (None: the day is refused)
    line: int | None = None
    column: str | None = None  # expected in the record's `columns` (None: a line that never became a row)
    check: str = ""  # substring of `checks` (quarantine) or of the refusal message
    text: str = ""  # original text kept in `row_json` (and absent from the lake)
    lost: dict[str, int] | None = None  # good rows lost per table (default {table: 1})
    added: int = 0  # good rows the edit adds to ``table``


# ------------------------------------------------------------------------------------------------
# the good drop
def base_drop(day_dir: Path, fmt: str) -> None:
    day_dir.mkdir(parents=True, exist_ok=True)
    tables = {"parent_orders": parents(), "child_orders": children(), "fills": fills(), "venues": venues()}
    if fmt == "fix":
        write_execlog({k: tables[k] for k in ("parent_orders", "venues")}, day_dir, "csv")
        write_fix_log(tables["child_orders"], tables["fills"], day_dir / "exec.fix")
    elif fmt == "mapped":
        write_execlog({k: tables[k] for k in ("parent_orders", "venues")}, day_dir, "csv")
        export_oms(tables["child_orders"], tables["fills"], day_dir, STAMP)
    else:
        write_execlog(tables, day_dir, "jsonl" if fmt == "jsonl" else "csv")
    if fmt == "lobster":
        write_lobster(day_dir)
    elif fmt == "taq":
        write_taq(day_dir)
    else:
        tick = "parquet" if fmt == "tick-parquet" else "csv"
        for name, make in (("quotes", quotes), ("depth", depth), ("trades", trades)):
            write_ticks(name, make(), day_dir, tick)  # type: ignore[arg-type]


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def replace_in_line(name: str, line: int, old: str, new: str) -> Edit:
    def edit(d: Path) -> None:
        rows = lines_of(d / name)
        assert old in rows[line - 1], (name, line, rows[line - 1])
        rows[line - 1] = rows[line - 1].replace(old, new, 1)
        (d / name).write_text("\n".join(rows), encoding="utf-8")
    return edit


def csv_cell(name: str, line: int, column: str, value: str) -> Edit:
    def edit(d: Path) -> None:
        rows = lines_of(d / name)
        header = rows[0].split(",")
        cells = rows[line - 1].split(",")
        cells[header.index(column)] = value
        rows[line - 1] = ",".join(cells)
        (d / name).write_text("\n".join(rows), encoding="utf-8")
    return edit


def json_field(name: str, line: int, key: str, value: object, raw: str | None = None) -> Edit:
    def edit(d: Path) -> None:
        rows = lines_of(d / name)
        rec = json.loads(rows[line - 1])
        if value is _DROP:
            rec.pop(key)
        else:
            rec[key] = value
        text = json.dumps(rec)
        rows[line - 1] = text if raw is None else text.replace(json.dumps(value), raw)
        (d / name).write_text("\n".join(rows), encoding="utf-8")
    return edit


_DROP = object()


def set_line(name: str, line: int, text: str) -> Edit:
    def edit(d: Path) -> None:
        rows = lines_of(d / name)
        rows[line - 1] = text
        (d / name).write_text("\n".join(rows), encoding="utf-8")
    return edit


def append_line(name: str, text: str) -> Edit:
    def edit(d: Path) -> None:
        body = (d / name).read_text(encoding="utf-8").rstrip("\n")
        (d / name).write_text(body + "\n" + text + "\n", encoding="utf-8")
    return edit


def raw_bytes(name: str, line: int, data: bytes) -> Edit:
    def edit(d: Path) -> None:
        rows = (d / name).read_bytes().split(b"\n")
        rows[line - 1] = data
        (d / name).write_bytes(b"\n".join(rows))
    return edit


def bom(name: str) -> Edit:
    def edit(d: Path) -> None:
        (d / name).write_bytes(b"\xef\xbb\xbf" + (d / name).read_bytes())
    return edit


def header_rename(name: str, old: str, new: str) -> Edit:
    return replace_in_line(name, 1, old, new)


def parquet_cell(name: str, row: int, column: str, value: object, dtype: pl.DataType | None = None) -> Edit:
    def edit(d: Path) -> None:
        path = d / f"{name}.parquet"
        frame = pl.read_parquet(path)
        col = frame.get_column(column)
        new = [value if i == row else v for i, v in enumerate(col.to_list())]
        frame = frame.with_columns(pl.Series(column, new, dtype=dtype or col.dtype))
        frame.write_parquet(path)
    return edit


def parquet_drop_column(name: str, column: str) -> Edit:
    def edit(d: Path) -> None:
        path = d / f"{name}.parquet"
        pl.read_parquet(path).drop(column).write_parquet(path)
    return edit


def fix_field(line: int, tag: str, value: str | None) -> Edit:
    """Set (or with None remove) ``tag`` on FIX message ``line``, with a correct length and checksum."""
    def edit(d: Path) -> None:
        rows = lines_of(d / "exec.fix")
        parts = [p.split("=", 1) for p in rows[line - 1].split(fx.SOH) if p]
        begin = parts[0][1]
        body = [(t, v) for t, v in parts if t not in ("8", "9", "10")]
        if value is None:
            body = [(t, v) for t, v in body if t != tag]
        elif any(t == tag for t, _ in body):
            body = [(t, value if t == tag else v) for t, v in body]
        else:
            body.append((tag, value))
        rows[line - 1] = fx.encode_message(begin, body)
        (d / "exec.fix").write_text("\n".join(rows), encoding="utf-8")
    return edit


def fix_line_of(kind: str, clord: str) -> Callable[[Path], int]:
    def find(d: Path) -> int:
        for no, line in enumerate(lines_of(d / "exec.fix"), start=1):
            if f"{fx.SOH}35={kind}{fx.SOH}" in line and f"{fx.SOH}11={clord}{fx.SOH}" in line:
                return no
        raise AssertionError(f"no 35={kind} for {clord}")
    return find


def on_fix(kind: str, clord: str, tag: str, value: str | None) -> Edit:
    def edit(d: Path) -> None:
        fix_field(fix_line_of(kind, clord)(d), tag, value)(d)
    return edit


def both(*edits: Edit) -> Edit:
    def edit(d: Path) -> None:
        for e in edits:
            e(d)
    return edit


OTHER_DAY = (DAY - timedelta(days=1)).isoformat()
LATER = (T1 + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
LATER2 = (T1 + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
CHILD_FILL = {"fills": 1, "child_orders": 1}
CASCADE = {"parent_orders": 1, "child_orders": 1, "fills": 1}

# Rows of the good drop (CSV line = row + 2): parents P1 (AAA BUY MKT), P2; children C1 (P1, DRK1, 100),
# C2 (P2, LITA, LMT 10.0, 200); fills E1 (C1 100 @ 10.0), E2 (C2 50 @ 10.1); venues DRK1, LITA;
# quotes 2 rows, depth 1 row, trades 1 row.
CSV = [
    Case("csv-px-text", "csv", csv_cell("fills.csv", 2, "px", "abc"), "fills", 2, "px", "parse(Float64)", "abc"),
    Case("csv-px-inf", "csv", csv_cell("fills.csv", 2, "px", "inf"), "fills", 2, "px", "finite", "inf"),
    Case("csv-px-nan", "csv", csv_cell("fills.csv", 2, "px", "NaN"), "fills", 2, "px", "finite", "NaN"),
    Case("csv-px-negative", "csv", csv_cell("fills.csv", 2, "px", "-10.0"), "fills", 2, "px", "greater_than", "-10"),
    Case("csv-qty-fraction", "csv", csv_cell("fills.csv", 2, "qty", "12.5"), "fills", 2, "qty", "parse(Int64)",
         "12.5"),
    Case("csv-qty-zero", "csv", csv_cell("fills.csv", 3, "qty", "0"), "fills", 3, "qty", "greater_than", '"qty":0'),
    Case("csv-ts-text", "csv", csv_cell("fills.csv", 2, "ts", "yesterday-ish"), "fills", 2, "ts", "parse(Datetime",
         "yesterday-ish"),
    Case("csv-ts-other-day", "csv", replace_in_line("fills.csv", 2, DAY.isoformat(), OTHER_DAY), "fills", 2, "ts",
         "on trading date", OTHER_DAY),
    Case("csv-liquidity", "csv", csv_cell("fills.csv", 2, "liquidity", "SIDEWAYS"), "fills", 2, "liquidity", "isin",
         "SIDEWAYS"),
    Case("csv-fee-range", "csv", csv_cell("fills.csv", 2, "fee_bps", "500"), "fills", 2, "fee_bps", "less_than",
         '"fee_bps":500'),
    Case("csv-extra-field", "csv", append_line("fills.csv", "E9,C2,2024-03-05T15:00:01.000000000Z,1,10.1,ADD,0.1,X"),
         "fills", 4, None, "csv fields", "E9,C2", {"fills": 0}),
    Case("csv-short-row", "csv", append_line("fills.csv", "E9,C2,2024-03-05T15:00:01.000000000Z,1"), "fills", 4, None,
         "csv fields", "E9,C2", {"fills": 0}),
    Case("csv-open-quote", "csv", append_line("fills.csv", 'E9,"C2,2024-03-05T15:00:01.000000000Z,1,10.1,ADD,0.1'),
         "fills", 4, None, "csv quoting", '"C2', {"fills": 0}),
    Case("csv-not-utf8", "csv", raw_bytes("fills.csv", 3, b"E2,C2,\xff\xfe,50,10.1,ADD,-0.2"), "fills", 3, None,
         "encoding", "E2,C2"),
    Case("csv-duplicate-exec", "csv", csv_cell("fills.csv", 3, "exec_id", "E1"), "fills", 3, "exec_id", "unique",
         '"exec_id":"E1"'),
    Case("csv-fill-unknown-child", "csv", csv_cell("fills.csv", 2, "child_id", "C404"), "fills", 2, "child_id",
         "unknown child", "C404"),
    Case("csv-fill-before-sent", "csv", replace_in_line("fills.csv", 2, "15:00:01", "14:59:59"), "fills", 2, "ts",
         "not before child sent_ts", "14:59:59"),
    Case("csv-overfill-only", "csv", both(
        append_line("fills.csv", f"E3,C2,{LATER},200,10.1,ADD,-0.2"),
        append_line("fills.csv", f"E4,C2,{LATER2},100,10.1,ADD,-0.2")),
        "fills", 4, "qty", "filled qty per child <= routed qty", "E3", {"fills": 0}, added=1),
    Case("csv-child-side", "csv", csv_cell("child_orders.csv", 2, "side", "HOLD"), "child_orders", 2, "side", "isin",
         "HOLD", CHILD_FILL),
    Case("csv-child-sent-ts", "csv", csv_cell("child_orders.csv", 2, "sent_ts", "soon"), "child_orders", 2, "sent_ts",
         "parse(Datetime", "soon", CHILD_FILL),
    Case("csv-child-venue", "csv", csv_cell("child_orders.csv", 2, "venue", "MOON"), "child_orders", 2, "venue",
         "venue in venues table", "MOON", CHILD_FILL),
    Case("csv-child-propensity", "csv", csv_cell("child_orders.csv", 2, "propensity", "0"), "child_orders", 2,
         "propensity", "greater_than", '"propensity":0', CHILD_FILL),
    Case("csv-child-unknown-parent", "csv", csv_cell("child_orders.csv", 2, "parent_id", "P404"), "child_orders", 2,
         "parent_id", "unknown parent", "P404", CHILD_FILL),
    Case("csv-child-lmt-no-px", "csv", csv_cell("child_orders.csv", 3, "limit_px", ""), "child_orders", 3, None,
         "limit_px required for LMT", "C2", {"child_orders": 1, "fills": 1}),
    Case("csv-parent-qty", "csv", csv_cell("parent_orders.csv", 2, "qty", "-5"), "parent_orders", 2, "qty",
         "greater_than", '"qty":-5', CASCADE),
    Case("csv-venue-type", "csv", csv_cell("venues.csv", 2, "venue_type", "MOON"), "venues", 2, "venue_type", "isin",
         "MOON", {"venues": 1, "child_orders": 1, "fills": 1}),
    Case("csv-missing-column", "csv", header_rename("fills.csv", ",px,", ",price,"), None,
         check="lacks required column(s) ['px']"),
    Case("csv-no-table", "csv", lambda d: (d / "fills.csv").write_text("a,b,c\n1,2,3\n"), None,
         check="no canonical table"),
]

JSONL = [
    Case("jsonl-px-string", "jsonl", json_field("fills.jsonl", 1, "px", "abc"), "fills", 1, "px", "parse(Float64)",
         "abc"),
    Case("jsonl-px-overflow", "jsonl", json_field("fills.jsonl", 1, "px", 1.5, raw="1e999"), "fills", 1, "px",
         "finite", "inf"),
    Case("jsonl-qty-float", "jsonl", json_field("fills.jsonl", 1, "qty", 1.5), "fills", 1, "qty", "parse(Int64)",
         "1.5"),
    Case("jsonl-qty-object", "jsonl", json_field("fills.jsonl", 1, "qty", {"n": 1}), "fills", 1, "qty", "parse(Int64)",
         '{\\"n\\": 1}'),
    Case("jsonl-missing-key", "jsonl", json_field("fills.jsonl", 2, "px", _DROP), "fills", 2, "px", "not_nullable",
         "E2"),
    Case("jsonl-missing-key-first", "jsonl", json_field("fills.jsonl", 1, "px", _DROP), None,
         check="lacks required column(s) ['px']"),
    Case("jsonl-null-px", "jsonl", json_field("fills.jsonl", 1, "px", None), "fills", 1, "px", "not_nullable", "E1"),
    Case("jsonl-not-json", "jsonl", set_line("fills.jsonl", 2, "{oops"), "fills", 2, None, "jsonl parse", "{oops"),
    Case("jsonl-array", "jsonl", set_line("fills.jsonl", 2, "[1, 2]"), "fills", 2, None, "jsonl parse", "[1, 2]"),
    Case("jsonl-child-side", "jsonl", json_field("child_orders.jsonl", 1, "side", "HOLD"), "child_orders", 1, "side",
         "isin", "HOLD", CHILD_FILL),
    Case("jsonl-child-ts-number", "jsonl", json_field("child_orders.jsonl", 1, "sent_ts", 12345), "child_orders", 1,
         "sent_ts", "parse(Datetime", "12345", CHILD_FILL),
    Case("jsonl-symbol-empty", "jsonl", json_field("parent_orders.jsonl", 2, "symbol", ""), "parent_orders", 2,
         "symbol", "str_length", "P2", {"parent_orders": 1, "child_orders": 1, "fills": 1}),
    Case("jsonl-no-table", "jsonl", lambda d: (d / "fills.jsonl").write_text('{"a": 1}\n'), None,
         check="no canonical table"),
]

FIX = [
    Case("fix-bad-qty", "fix", on_fix("D", "C1", "38", "lots"), "child_orders", None, None, "fix type", "38=lots",
         CHILD_FILL),
    Case("fix-missing-symbol", "fix", on_fix("D", "C1", "55", None), "child_orders", None, None, "fix missing tag",
         "11=C1", CHILD_FILL),
    Case("fix-bad-checksum", "fix",
         lambda d: replace_in_line("exec.fix", fix_line_of("D", "C2")(d), "55=BBB", "55=BBC")(d),
         "child_orders", None, None, "fix", "55=BBC", CHILD_FILL),
    Case("fix-unknown-order", "fix", on_fix("8", "C2", "11", "C404"), "fills", None, None, "fix unknown order",
         "11=C404"),
    Case("fix-correction", "fix", on_fix("8", "C2", "150", "G"), "fills", None, None, "fix unknown fill",
         "150=G", {"fills": 1}),  # a trade correction must name the fill it corrects (19 ExecRefID)
    Case("fix-bad-side", "fix", on_fix("D", "C2", "54", "9"), "child_orders", None, None, "fix", "54=9",
         CHILD_FILL),
    Case("fix-bad-time", "fix", on_fix("D", "C2", "60", "noon"), "child_orders", None, None, "fix", "60=noon",
         CHILD_FILL),
    Case("fix-fill-price-zero", "fix", on_fix("8", "C1", "31", "0"), "fills", None, "px", "greater_than", "E1",
         {"fills": 1}),
    Case("fix-venue-unknown", "fix", both(on_fix("D", "C1", "100", "MOON"), on_fix("D", "C1", "56", "MOON")),
         "child_orders", None, "venue", "venue in venues table", "MOON", CHILD_FILL),
]

TICK_CSV = [
    Case("tick-csv-ask-text", "tick-csv", csv_cell("quotes.csv", 2, "ask_px", "n/a"), "quotes", 2, "ask_px",
         "parse(Float64)", "n/a"),
    Case("tick-csv-ask-inf", "tick-csv", csv_cell("quotes.csv", 2, "ask_px", "inf"), "quotes", 2, "ask_px", "finite",
         "inf"),
    Case("tick-csv-crossed", "tick-csv", csv_cell("quotes.csv", 2, "bid_px", "11.5"), "quotes", 2, None,
         "bid <= ask", '"bid_px":11.5'),
    Case("tick-csv-size-negative", "tick-csv", csv_cell("quotes.csv", 3, "bid_sz", "-1"), "quotes", 3, "bid_sz",
         "greater_than_or_equal", '"bid_sz":-1'),
    Case("tick-csv-ts-other-day", "tick-csv", replace_in_line("trades.csv", 2, DAY.isoformat(), OTHER_DAY), "trades",
         2, "ts", "on trading date", OTHER_DAY),
    Case("tick-csv-extra-field", "tick-csv",
         append_line("trades.csv", "2024-03-05T15:00:00.000000000Z,AAA,LITA,10,1,,X"),
         "trades", 3, None, "csv fields", "AAA,LITA,10,1,,X", {"trades": 0}),
    Case("tick-csv-depth-unordered", "tick-csv", csv_cell("depth.csv", 2, "bid_px_2", "10.5"), "depth", 2, None,
         "book levels ordered", '"bid_px_2":10.5'),
    Case("tick-csv-trade-qty", "tick-csv", csv_cell("trades.csv", 2, "qty", "many"), "trades", 2, "qty",
         "parse(Int64)", "many"),
    Case("tick-csv-missing-column", "tick-csv", header_rename("trades.csv", ",px,", ",price,"), None,
         check="lacks required column(s) ['px']"),
]

TICK_PARQUET = [
    Case("parquet-ask-inf", "tick-parquet", parquet_cell("quotes", 0, "ask_px", float("inf")), "quotes", 1, "ask_px",
         "finite", "inf"),
    Case("parquet-bid-nan", "tick-parquet", parquet_cell("quotes", 0, "bid_px", float("nan")), "quotes", 1, "bid_px",
         "finite", "NaN"),
    Case("parquet-null-symbol", "tick-parquet", parquet_cell("trades", 0, "symbol", None), "trades", 1, "symbol",
         "not_nullable", '"symbol":null'),
    Case("parquet-px-zero", "tick-parquet", parquet_cell("trades", 0, "px", 0.0), "trades", 1, "px", "greater_than",
         '"px":0.0'),
    Case("parquet-depth-crossed", "tick-parquet", parquet_cell("depth", 0, "bid_px_1", 10.5), "depth", 1, None,
         "level-1 bid < ask", '"bid_px_1":10.5'),
    Case("parquet-size-negative", "tick-parquet", parquet_cell("quotes", 1, "ask_sz", -5), "quotes", 2, "ask_sz",
         "greater_than_or_equal", '"ask_sz":-5'),
    Case("parquet-empty-venue", "tick-parquet", parquet_cell("quotes", 1, "venue", ""), "quotes", 2, "venue",
         "str_length", '"venue":""'),
    Case("parquet-missing-column", "tick-parquet", parquet_drop_column("trades", "px"), None,
         check="lacks required column(s) ['px']"),
]

TAQ = [
    Case("taq-bid-text", "taq", replace_in_line("q.csv", 3, ",9.99,", ",nine,"), "quotes", 3, "bid_px",
         "parse(Float64)", "nine"),
    Case("taq-ask-inf", "taq", replace_in_line("q.csv", 3, ",10.01,", ",inf,"), "quotes", 3, "ask_px", "finite",
         "inf"),
    Case("taq-size-text", "taq", replace_in_line("t.csv", 2, ",100,", ",lots,"), "trades", 2, "qty", "parse(Int64)",
         "lots"),
    Case("taq-other-day", "taq", replace_in_line("q.csv", 4, "1709650801.000000", "1709564401.000000"), "quotes", 4,
         "ts", "on trading date", "2024-03-04T15:00:01"),
    Case("taq-price-negative", "taq", replace_in_line("t.csv", 2, ",10.00,", ",-10.00,"), "trades", 2, "px",
         "greater_than", "-10.0"),
    Case("taq-corrected", "taq", replace_in_line("t.csv", 2, ",@,100,10.00,0", ",@,100,10.00,1"), "trades", 2, None,
         "taq corrected trade", "10.00,1"),
    Case("taq-epoch-text", "taq", replace_in_line("t.csv", 2, "1709650800.500000", "later"), "trades", 2, "ts",
         "parse(", "later"),
    Case("taq-missing-column", "taq", header_rename("t.csv", ",PRICE,", ",PRX,"), None, check="format not recognised"),
]

LOBSTER_MSG, LOBSTER_BOOK = LOB.format("message"), LOB.format("orderbook")
LOBSTER = [
    Case("lobster-price-text", "lobster", replace_in_line(LOBSTER_BOOK, 2, "1001000", "abc"), None,
         check="not a valid LOBSTER file: could not parse `abc`"),
    Case("lobster-row-mismatch", "lobster", append_line(LOBSTER_BOOK, "1001000,10,1000000,100,1002000,70,1,0"), None,
         check="rows but 3 messages"),
    Case("lobster-odd-width", "lobster", lambda d: (d / LOBSTER_BOOK).write_text("1,2,3,4,5\n1,2,3,4,5\n1,2,3,4,5\n"),
         None, check=LOBSTER_BOOK),
    Case("lobster-no-orderbook", "lobster", lambda d: (d / LOBSTER_BOOK).unlink(), None,
         check="without its orderbook file"),
    Case("lobster-no-message", "lobster", lambda d: (d / LOBSTER_MSG).unlink(), None,
         check="without its message file"),
    Case("lobster-time-text", "lobster", replace_in_line(LOBSTER_MSG, 2, "34200.5", "noon"), None,
         check=LOBSTER_MSG),
    Case("lobster-crossed-book", "lobster", replace_in_line(LOBSTER_BOOK, 1, "1001000,50,1000000", "999000,50,1000000"),
         "depth", 1, None, "level-1 bid < ask", '"bid_px_1":100.0', {"depth": 1}),
]

# The OMS export read through tests/fixtures/oms/mapping_example.toml (its column names and codes, New York
# local times, fees per share): orders C1 (line 2), C2 (line 3); fills E1 (line 2), E2 (line 3).
STAMP = DAY.strftime("%Y%m%d")
OMS_ORDERS, OMS_FILLS = f"oms_orders_{STAMP}.csv", f"oms_fills_{STAMP}.csv"
MAPPED = [
    Case("mapped-side-code", "mapped", csv_cell(OMS_ORDERS, 2, "BuySell", "HOLD"), "child_orders", 2, "side",
         "code not in mapping", "HOLD", CHILD_FILL),
    Case("mapped-local-time-text", "mapped", csv_cell(OMS_ORDERS, 2, "SentLocal", "teatime"), "child_orders", 2,
         "sent_ts", "timestamp %Y%m%d", "teatime", CHILD_FILL),
    Case("mapped-unknown-venue", "mapped", csv_cell(OMS_ORDERS, 2, "Dest", "MOON"), "child_orders", 2, "venue",
         "venue in venues table", "MOON", CHILD_FILL),
    Case("mapped-liquidity-code", "mapped", csv_cell(OMS_FILLS, 2, "Liq", "SIDEWAYS"), "fills", 2, "liquidity",
         "code not in mapping", "SIDEWAYS"),
    Case("mapped-fee-text", "mapped", csv_cell(OMS_FILLS, 2, "FeePerShare", "abc"), "fills", 2, "fee_bps",
         "parse(Float64)", "abc"),
    Case("mapped-price-inf", "mapped", csv_cell(OMS_FILLS, 2, "Price", "inf"), "fills", 2, "px", "finite", "inf"),
    Case("mapped-missing-column", "mapped", header_rename(OMS_ORDERS, ",Shares,", ",Qty,"), None,
         check="Shares"),
]

CASES = CSV + JSONL + FIX + TICK_CSV + TICK_PARQUET + TAQ + LOBSTER + MAPPED


_GOOD: dict[str, dict[str, int]] = {}


def good_counts(fmt: str, tmp: Path) -> dict[str, int]:
    """Rows each table of the unedited drop writes (once per format and test process)."""
    if fmt not in _GOOD:
        day_dir = tmp / "good" / DAY.isoformat()
        base_drop(day_dir, fmt)
        summary = ingest_day(DAY, day_dir.parent, Lake(tmp / "good_lake"), _settings(fmt))
        _GOOD[fmt] = {t: v["written"] for t, v in summary.tables.items()}
    return _GOOD[fmt]


def _settings(fmt: str) -> Settings:
    mapping = {"mapping": MAPPING} if fmt == "mapped" else {}
    return Settings(ingest={"max_reject_share": 1.0, **mapping})  # type: ignore[arg-type]


def lake_text(lake: Lake) -> str:
    from sor_pipeline.storage.lake import CATALOG

    return "\n".join(lake.read_day(name, DAY).write_ndjson() for name in CATALOG
                     if name != "quarantine" and lake.exists(name, DAY))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, sor_home: Path) -> None:
    expected = good_counts(case.fmt, tmp_path)
    day_dir = tmp_path / "raw" / DAY.isoformat()
    base_drop(day_dir, case.fmt)
    case.edit(day_dir)
    lake = Lake(tmp_path / "lake")

    if case.table is None:
        with pytest.raises((IngestError, DropError, ContractError)) as err:
            ingest_day(DAY, day_dir.parent, lake, _settings(case.fmt))
        message = str(err.value)
        assert case.check in message, message
        assert str(day_dir) in message, message  # names the file (or the drop)
        assert not any(lake.exists(t, DAY) for t in ("fills", "quotes", "trades", "depth", "child_orders"))
        return

    summary = ingest_day(DAY, day_dir.parent, lake, _settings(case.fmt))
    q = lake.read_day("quarantine", DAY)
    mine = q.filter(pl.col("checks").str.contains(case.check, literal=True))
    mine = mine.filter(pl.col("table") == case.table)
    if case.line is not None:
        mine = mine.filter(pl.col("source_line") == case.line)
    assert mine.height >= 1, q.select("table", "source_line", "columns", "checks", "reason").to_dicts()
    rec = mine.row(0, named=True)
    assert rec["source_file"] and Path(rec["source_file"]).parent == day_dir
    if case.line is not None:
        assert rec["source_line"] == case.line, rec
    if case.column is not None:
        assert case.column in (rec["columns"] or ""), rec
    assert rec["reason"], rec
    assert case.text in rec["row_json"], rec
    lost = {case.table: 1} if case.lost is None else case.lost
    for table, n in expected.items():
        if table == "nbbo":
            continue
        got = summary.tables[table]["written"]
        want = n - lost.get(table, 0) + (case.added if table == case.table else 0)
        assert got == want, (table, got, want, summary.tables[table])  # no good row lost
    bad = case.text.strip('"')
    if bad in ("inf", "NaN"):
        for name in ("fills", "quotes", "trades", "depth"):
            frame = lake.read_day(name, DAY) if lake.exists(name, DAY) else pl.DataFrame()
            floats = [c for c, d in frame.schema.items() if d == pl.Float64]
            assert frame.select(pl.all_horizontal(pl.col(floats).is_finite() | pl.col(floats).is_null()).all()).item() \
                if floats and frame.height else True
    elif len(bad) >= 3 and not any(c in bad for c in '":') and not bad.startswith(("E", "C", "P")):
        assert bad not in lake_text(lake)  # the bad value reached no table of the lake


def test_matrix_counts() -> None:
    by_fmt: dict[str, int] = {}
    for c in CASES:
        by_fmt[c.fmt] = by_fmt.get(c.fmt, 0) + 1
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(n >= 6 for n in by_fmt.values()), by_fmt
