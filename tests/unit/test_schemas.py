"""Each canonical schema accepts a good frame and rejects each kind of bad row, naming column and check."""

from __future__ import annotations

from datetime import UTC, date

import pandera.polars as pa
import polars as pl
import pytest

from schemas import TABLE_SCHEMAS, ChildOrders, Depth, Fills, ParentOrders, Quotes, Trades, columns_of
from schemas.relations import check_children_against_parents, check_fills_against_children, check_on_date
from sor_pipeline.storage.validation import ContractError, validate_split
from tests.conftest import DAY, ts_series, utc

T0 = utc(2024, 3, 5, 15, 0, 0)
T1 = utc(2024, 3, 5, 15, 0, 1)


def parents() -> pl.DataFrame:
    return pl.DataFrame({
        "parent_id": ["P1", "P2"], "date": [DAY, DAY], "symbol": ["AAA", "BBB"], "side": ["BUY", "SELL"],
        "qty": [1000, 500], "order_type": ["MKT", "LMT"], "limit_px": [None, 10.0],
        "urgency": ["LOW", "HIGH"], "arrival_ts": ts_series([T0, T0]), "client_id": ["C1", "C2"],
        "strategy": ["IS", "VWAP"],
    }, schema_overrides={"limit_px": pl.Float64})


def children() -> pl.DataFrame:
    return pl.DataFrame({
        "child_id": ["C1", "C2"], "parent_id": ["P1", "P2"], "symbol": ["AAA", "BBB"], "side": ["BUY", "SELL"],
        "venue": ["DRK1", "LITA"], "order_type": ["MKT", "LMT"], "tif": ["IOC", "DAY"], "limit_px": [None, 10.0],
        "qty": [100, 200], "sent_ts": ts_series([T0, T0]), "router_policy": ["static", "static"],
        "route_rank": [1, 2], "propensity": [0.9, 0.05], "predicted_cost_bps": [None, None],
        "status": ["FILLED", "PARTIAL"], "done_ts": ts_series([T1, None]),
    }, schema_overrides={"predicted_cost_bps": pl.Float64})


def fills() -> pl.DataFrame:
    return pl.DataFrame({
        "exec_id": ["E1", "E2"], "child_id": ["C1", "C2"], "ts": ts_series([T1, T1]), "qty": [100, 50],
        "px": [10.0, 10.1], "liquidity": ["MID", "ADD"], "fee_bps": [0.1, -0.2],
    })


def quotes() -> pl.DataFrame:
    return pl.DataFrame({
        "ts": ts_series([T0, T1]), "symbol": ["AAA", "AAA"], "venue": ["LITA", "LITB"],
        "bid_px": [9.99, 10.0], "bid_sz": [100, 200], "ask_px": [10.01, 10.02], "ask_sz": [300, 100],
        "flag": [None, None],
    }, schema_overrides={"flag": pl.Utf8})


def depth() -> pl.DataFrame:
    row: dict[str, list[object]] = {"ts": [T0], "symbol": ["AAA"], "venue": ["LITA"]}
    for k in range(1, 6):
        row[f"bid_px_{k}"] = [10.0 - 0.01 * k]
        row[f"bid_sz_{k}"] = [100 * k]
        row[f"ask_px_{k}"] = [10.0 + 0.01 * k]
        row[f"ask_sz_{k}"] = [100 * k]
    df = pl.DataFrame(row)
    return df.with_columns(ts_series([T0]))


def trades() -> pl.DataFrame:
    return pl.DataFrame({"ts": ts_series([T0]), "symbol": ["AAA"], "venue": ["LITA"], "px": [10.0],
                         "qty": [100], "cond": [None]}, schema_overrides={"cond": pl.Utf8})


GOOD = {
    "parent_orders": (ParentOrders, parents),
    "child_orders": (ChildOrders, children),
    "fills": (Fills, fills),
    "quotes": (Quotes, quotes),
    "depth": (Depth, depth),
    "trades": (Trades, trades),
}


@pytest.mark.parametrize("table", sorted(GOOD))
def test_good_frame_passes(table: str) -> None:
    model, make = GOOD[table]
    assert TABLE_SCHEMAS[table] is model
    frame = make()
    model.validate(frame)
    split = validate_split(frame, model, table=table)
    assert split.quarantined == 0 and split.written == frame.height
    assert list(split.good.columns) == list(columns_of(model))


BAD_ROWS = [
    # (table, column, new value for row 0, expected column in failure, expected check fragment)
    ("parent_orders", "side", "HOLD", "side", "isin"),
    ("parent_orders", "qty", 0, "qty", "greater_than"),
    ("parent_orders", "urgency", "ASAP", "urgency", "isin"),
    ("parent_orders", "order_type", "LMT", "ParentOrders", "limit_px required for LMT"),
    ("child_orders", "propensity", 0.0, "propensity", "greater_than"),
    ("child_orders", "propensity", 1.5, "propensity", "less_than_or_equal_to"),
    ("child_orders", "route_rank", 0, "route_rank", "greater_than_or_equal_to"),
    ("child_orders", "status", "LOST", "status", "isin"),
    ("child_orders", "tif", "GTC", "tif", "isin"),
    ("fills", "px", -1.0, "px", "greater_than"),
    ("fills", "qty", -5, "qty", "greater_than"),
    ("fills", "liquidity", "HIDDEN", "liquidity", "isin"),
    ("fills", "fee_bps", 500.0, "fee_bps", "less_than_or_equal_to"),
    ("quotes", "bid_px", 10.05, "Quotes", "bid <= ask"),
    ("quotes", "bid_sz", -1, "bid_sz", "greater_than_or_equal_to"),
    ("quotes", "ask_px", 0.0, "Quotes", "bid <= ask"),
    ("depth", "bid_px_1", 10.5, "Depth", "level-1 bid < ask"),
    ("depth", "bid_px_3", 9.995, "Depth", "book levels ordered"),
    ("trades", "px", 0.0, "px", "greater_than"),
    ("trades", "qty", 0, "qty", "greater_than"),
]


@pytest.mark.parametrize(("table", "column", "value", "fail_column", "check"), BAD_ROWS)
def test_bad_row_rejected_with_column_and_check(table: str, column: str, value: object, fail_column: str,
                                                check: str) -> None:
    model, make = GOOD[table]
    frame = make()
    dtype = frame.schema[column]
    bad = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value)).otherwise(pl.col(column)).cast(dtype).alias(column)
    )
    with pytest.raises(pa.errors.SchemaErrors) as err:
        model.validate(bad, lazy=True)
    fc = err.value.failure_cases
    hit = fc.filter((pl.col("column") == fail_column) & pl.col("check").str.contains(check, literal=True))
    assert hit.height >= 1, fc
    assert hit.get_column("index").to_list() == [0]
    split = validate_split(bad, model, table=table)
    assert split.quarantined == 1 and split.written == frame.height - 1
    q = split.quarantine.row(0, named=True)
    assert check in q["checks"] and fail_column in q["columns"]


def test_quote_flag_allows_zero_or_crossed() -> None:
    frame = quotes().with_columns(pl.Series("bid_px", [0.0, 10.05]), pl.Series("flag", ["ZERO", "CROSSED"]))
    Quotes.validate(frame)


def test_duplicate_ids_quarantine_repeats_only() -> None:
    frame = pl.concat([fills(), fills().head(1)])
    split = validate_split(frame, Fills, table="fills")
    assert split.written == 2 and split.quarantined == 1
    assert split.quarantine.item(0, "checks") == "unique(exec_id)"
    assert split.quarantine.item(0, "row_index") == 2


def test_missing_column_is_a_contract_error_naming_table_column_and_file() -> None:
    frame = fills().drop("px").with_columns(pl.lit("drop/fills.csv").alias("_source_file"))
    with pytest.raises(ContractError, match=r"drop/fills.csv.*'fills'.*\['px'\]"):
        validate_split(frame, Fills, table="fills")


def test_unparseable_value_quarantined_as_dtype() -> None:
    frame = fills().with_columns(pl.Series("qty", ["100", "12x"]))
    split = validate_split(frame, Fills, table="fills")
    assert split.quarantined == 1 and "dtype(Int64)" in split.quarantine.item(0, "checks")


def test_fills_cross_checks() -> None:
    f = pl.concat([
        fills(),
        fills().head(1).with_columns(pl.lit("E9").alias("exec_id"), pl.lit("C404").alias("child_id")),
        fills().head(1).with_columns(pl.lit("E8").alias("exec_id"), ts_series([utc(2024, 3, 5, 14)])),
        fills().head(1).with_columns(pl.lit("E7").alias("exec_id"), pl.lit("C2").alias("child_id"),
                                     pl.lit(200, dtype=pl.Int64).alias("qty")),
    ])
    fails = check_fills_against_children(f, children())
    by_check = {r["check"]: r["index"] for r in fails.iter_rows(named=True)}
    assert by_check["fill for unknown child order"] == 2
    assert by_check["fill ts not before child sent_ts"] == 3
    # child C1 routed 100: E1 (100) fits, E8 (earlier ts, 100) comes first in time, so E1 overfills
    over = fails.filter(pl.col("check") == "filled qty per child <= routed qty").get_column("index").sort().to_list()
    assert over == [0, 4]
    split = validate_split(f, Fills, table="fills", extra_failures=[fails])
    assert split.good.get_column("exec_id").to_list() == ["E2"]


def test_children_cross_checks_and_date() -> None:
    c = children().with_columns(pl.Series("parent_id", ["P1", "P9"]))
    fails = check_children_against_parents(c, parents())
    assert fails.get_column("index").to_list() == [1]
    other = children().with_columns(ts_series([utc(2024, 3, 6, 15), T0], "sent_ts"))
    wrong_day = check_on_date(other, "sent_ts", DAY, "America/New_York")
    assert wrong_day.get_column("index").to_list() == [0]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo", "UTC"])
@pytest.mark.parametrize("day", [date(2024, 3, 10), date(2024, 3, 11), date(2024, 11, 3)], ids=str)
def test_check_on_date_is_the_local_date(zone: str, day: date) -> None:
    """The range test ingest uses (two comparisons per row) flags exactly the rows whose local date is
    another day: DST days, instants a nanosecond either side of local midnight, nulls, other time zones
    and units."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    edges = []
    for d in (day, day + timedelta(days=1)):
        midnight = datetime.combine(d, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
        edges += [midnight - timedelta(hours=1), midnight, midnight + timedelta(hours=1)]
    ts = pl.Series("ts", edges).cast(pl.Datetime("ns", "UTC"))
    ts = pl.concat([ts, ts.dt.offset_by("-1ns"), ts.dt.offset_by("1ns"), pl.Series("ts", [None], ts.dtype)])
    frame = pl.DataFrame({"ts": ts})
    for f in (frame, frame.with_columns(pl.col("ts").dt.cast_time_unit("us")),
              frame.with_columns(pl.col("ts").dt.convert_time_zone("Europe/London"))):
        want = (f.with_row_index().filter(pl.col("ts").dt.convert_time_zone(zone).dt.date() != day)
                .get_column("index").cast(pl.Int64).to_list())
        got = check_on_date(f, "ts", day, zone)
        assert got.get_column("index").to_list() == want
        assert 0 < len(want) < f.height - 1
