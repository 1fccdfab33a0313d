"""A hand-built trading day for the best-execution report (buy and sell, lit / dark / ECN, fee and rebate),
and the report's tables checked against figures computed by hand.

NBBO of AAA (UTC, 15:00:00 + s): [0, 100) 10.00 x 10.02 (mid 10.01); [100, 400) 10.02 x 10.04 (mid 10.03);
[400, ...) 9.98 x 10.00 (mid 9.99).

- C1 BUY MKT IOC 300 @LITA (model:3, rank 1), sent 1 s: E1 300 @ 10.02 at 2 s, REMOVE, fee +0.30 bps.
- C2 BUY LMT 10.03 DAY 500 @DRK1 (static, rank 1), sent 5 s: E2 200 @ 10.01 at 15 s, MID, fee +0.10; rest cancelled.
- C3 SELL LMT 10.03 DAY 600 @ECNM (model:3, rank 1), sent 120 s: E3 600 @ 10.04 at 150 s, ADD, fee −0.20 (rebate).
- C4 SELL MKT IOC 100 @LITA (static, rank 2), sent 410 s: E4 100 @ 9.97 at 410.5 s, REMOVE, fee +0.30 — below the
  bid (9.98): outside the NBBO by $0.01.
- C5 BUY LMT 9.90 DAY 50 @LITA (static, rank 1), sent 5 s: no fill, cancelled at 60 s (not a covered order).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from sor_pipeline.reporting import rule605
from sor_pipeline.reporting.data import ReportData, load
from sor_pipeline.reporting.outliers import outside_nbbo_table, worst_children_table
from sor_pipeline.reporting.performance import paired_test
from sor_pipeline.reporting.routing import routing_table, rts28_table
from sor_pipeline.reporting.summary import volume_table
from sor_pipeline.simulation.metrics import daily_policy_costs
from sor_pipeline.storage.lake import Lake
from sor_pipeline.tca.run import run_tca
from tests.conftest import ts_series
from tests.fixtures_market import VENUES, write_day

DAY = date(2024, 3, 5)
DAY2 = date(2024, 3, 6)


def at(day: date, sec: float) -> datetime:
    return datetime(day.year, day.month, day.day, 15, 0, 0, tzinfo=UTC) + timedelta(seconds=sec)


def hand_day(day: date = DAY, e1_px: float = 10.02) -> dict[str, pl.DataFrame]:
    """The frames of the module docstring's day (``e1_px`` varies E1's price for a second day)."""
    t = lambda xs: ts_series([at(day, x) for x in xs])  # noqa: E731
    nb = [(0.0, 10.00, 10.02), (100.0, 10.02, 10.04), (400.0, 9.98, 10.00)]
    nbbo = pl.DataFrame({"ts": t([x[0] for x in nb]), "symbol": ["AAA"] * 3, "bid_px": [x[1] for x in nb],
                         "bid_sz": [500] * 3, "ask_px": [x[2] for x in nb], "ask_sz": [500] * 3,
                         "mid_px": [(x[1] + x[2]) / 2 for x in nb], "flag": [None] * 3},
                        schema_overrides={"flag": pl.String})
    parents = pl.DataFrame({
        "parent_id": ["P1", "P2"], "date": [day, day], "symbol": ["AAA", "AAA"], "side": ["BUY", "SELL"],
        "qty": [1000, 700], "order_type": ["MKT", "LMT"], "limit_px": [None, 9.95], "urgency": ["HIGH", "LOW"],
        "arrival_ts": t([0.5, 110.0]), "client_id": ["CLIENT-SECRET-A", "CLIENT-SECRET-B"],
        "strategy": ["IS", "DARK"]}, schema_overrides={"limit_px": pl.Float64})
    children = pl.DataFrame({
        "child_id": ["C1", "C2", "C3", "C4", "C5"], "parent_id": ["P1", "P1", "P2", "P2", "P1"],
        "symbol": ["AAA"] * 5, "side": ["BUY", "BUY", "SELL", "SELL", "BUY"],
        "venue": ["LITA", "DRK1", "ECNM", "LITA", "LITA"], "order_type": ["MKT", "LMT", "LMT", "MKT", "LMT"],
        "tif": ["IOC", "DAY", "DAY", "IOC", "DAY"], "limit_px": [None, 10.03, 10.03, None, 9.90],
        "qty": [300, 500, 600, 100, 50], "sent_ts": t([1.0, 5.0, 120.0, 410.0, 5.0]),
        "router_policy": ["model:3", "static", "model:3", "static", "static"], "route_rank": [1, 1, 1, 2, 1],
        "propensity": [0.9, 1.0, 0.9, 1.0, 1.0], "predicted_cost_bps": [3.0, None, 1.0, None, None],
        "status": ["FILLED", "PARTIAL", "FILLED", "FILLED", "CANCELLED"],
        "done_ts": t([2.0, 20.0, 150.0, 411.0, 60.0])},
        schema_overrides={"limit_px": pl.Float64, "predicted_cost_bps": pl.Float64})
    fills = pl.DataFrame({
        "exec_id": ["E1", "E2", "E3", "E4"], "child_id": ["C1", "C2", "C3", "C4"], "ts": t([2.0, 15.0, 150.0, 410.5]),
        "qty": [300, 200, 600, 100], "px": [e1_px, 10.01, 10.04, 9.97], "liquidity": ["REMOVE", "MID", "ADD", "REMOVE"],
        "fee_bps": [0.30, 0.10, -0.20, 0.30]})
    trades = pl.DataFrame({"ts": t([2.0, 150.0]), "symbol": ["AAA"] * 2, "venue": ["LITA"] * 2,
                           "px": [10.02, 10.04], "qty": [300, 600], "cond": [None, None]},
                          schema_overrides={"cond": pl.String})
    oracle = pl.DataFrame({"child_id": ["C1"] * 3 + ["C3"] * 3, "venue": ["DRK1", "LITA", "ECNM"] * 2,
                           "venue_type": ["DARK", "LIT", "ECN"] * 2, "p_fill": [0.5] * 6, "slippage_bps": [1.0] * 6,
                           "fallback_bps": [5.0] * 6, "expected_cost_bps": [5.0, 3.0, 4.0, 2.0, 6.0, 1.0]})
    return {"nbbo": nbbo, "parent_orders": parents, "child_orders": children, "fills": fills, "trades": trades,
            "venues": VENUES, "sim_oracle": oracle}


def write_hand_lake(root: object, days: tuple[date, ...] = (DAY,)) -> Lake:
    """A lake with the hand day(s) and their TCA (run_tca); day i > 0 has E1 at 10.02 + 0.01 i."""
    lake = Lake(root)  # type: ignore[arg-type]
    for i, d in enumerate(days):
        write_day(lake, d, hand_day(d, e1_px=10.02 + 0.01 * i))
        run_tca(d, lake)
    return lake


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> ReportData:
    return load(write_hand_lake(tmp_path_factory.mktemp("hand")), DAY, DAY)


def rows(frame: pl.DataFrame, **keys: object) -> dict[str, object]:
    out = frame
    for k, v in keys.items():
        out = out.filter(pl.col(k) == v)
    assert out.height == 1, (keys, out)
    return out.row(0, named=True)


def test_executions_quote_measures(data: ReportData) -> None:
    e = {r["exec_id"]: r for r in data.executions.iter_rows(named=True)}
    assert e["E1"]["eff_spread"] == pytest.approx(2 * (10.02 - 10.01))
    assert e["E1"]["realized_50ms"] == pytest.approx(0.02) and e["E1"]["realized_5m"] == pytest.approx(-0.02)
    assert e["E1"]["price_improvement"] == pytest.approx(0.0, abs=1e-12)
    assert e["E3"]["eff_spread"] == pytest.approx(-2 * (10.04 - 10.03))  # sold above the mid: negative = earned
    assert e["E3"]["realized_1m"] == pytest.approx(-2 * (10.04 - 10.03))
    assert e["E3"]["realized_5m"] == pytest.approx(-2 * (10.04 - 9.99))
    assert e["E3"]["price_improvement"] == pytest.approx(10.04 - 10.02)
    assert e["E4"]["outside_nbbo_at_fill"] and e["E4"]["outside_by"] == pytest.approx(0.01)
    assert not any(e[x]["outside_nbbo_at_fill"] for x in ("E1", "E2", "E3"))
    assert e["E2"]["time_to_exec_s"] == pytest.approx(10.0)


def test_rule605_aggregates(data: ReportData) -> None:
    agg = rule605.aggregate(data, ["venue", "order_type_605", "size_bucket"])
    assert agg.height == 3  # C5 (50 shares, $0.13 below the bid) is not covered
    lit = rows(agg, venue="LITA", order_type_605=11, size_bucket=21)
    assert (lit["covered_orders"], lit["covered_shares"], lit["cancelled_shares"]) == (2, 400, 0)
    assert lit["executed_at_center_shares"] == 400 and lit["exec_0_9s_shares"] == 400
    assert lit["avg_effective_spread"] == pytest.approx((0.02 * 300 + 2 * (9.99 - 9.97) * 100) / 400)
    assert lit["avg_realized_spread"] == pytest.approx((-0.02 * 300 + 0.04 * 100) / 400)
    assert lit["realized_50ms"] == pytest.approx((0.02 * 300 + 0.04 * 100) / 400)
    assert (lit["price_improved_shares"], lit["at_quote_shares"], lit["outside_quote_shares"]) == (0, 300, 100)
    assert lit["at_quote_avg_time_s"] == pytest.approx(1.0)
    assert lit["outside_quote_avg_amount"] == pytest.approx(0.01) and lit["outside_quote_avg_time_s"] == 0.5
    drk = rows(agg, venue="DRK1", order_type_605=12, size_bucket=22)
    assert (drk["covered_shares"], drk["cancelled_shares"], drk["executed_at_center_shares"]) == (500, 300, 200)
    assert drk["exec_10_29s_shares"] == 200 and drk["avg_effective_spread"] == pytest.approx(0.0, abs=1e-12)
    assert drk["price_improved_shares"] == 200 and drk["avg_price_improvement"] == pytest.approx(0.01)
    assert drk["avg_price_improvement_time_s"] == pytest.approx(10.0)
    ecn = rows(agg, venue="ECNM", order_type_605=13, size_bucket=22)
    assert ecn["exec_30_59s_shares"] == 600 and ecn["avg_realized_spread"] == pytest.approx(-0.10)


def test_rule605_export_blanks_non_marketable(data: ReportData, tmp_path: object) -> None:
    frame = rule605.export_frame(data)
    assert frame.columns == list(rule605.COLUMNS) and frame.height == 3
    ecn = rows(frame, market_center="ECNM")
    assert ecn["avg_effective_spread"] is None and ecn["price_improved_shares"] is None
    assert ecn["avg_realized_spread"] == pytest.approx(-0.10) and ecn["yyyymm"] == "202403"
    assert rows(frame, market_center="LITA")["participant"] == rule605.PARTICIPANT


def test_routing_606(data: ReportData) -> None:
    r = routing_table(data).frame
    lit = rows(r, venue="LITA")
    fee_lit = 300 * 10.02 * 0.3 / 1e4 + 100 * 9.97 * 0.3 / 1e4
    assert (lit["routed_shares"], lit["ioc_routed_shares"], lit["executed_shares"]) == (450, 400, 400)
    assert lit["fill_rate"] == pytest.approx(400 / 450) and lit["venue_type"] == "LIT"
    assert lit["net_fee_usd"] == pytest.approx(fee_lit) and lit["net_fee_per_100"] == pytest.approx(fee_lit / 4)
    assert lit["far_side_shares"] == 400 and lit["far_side_pct"] == pytest.approx(1.0)
    assert lit["removed_shares"] == 400 and lit["removed_fee_per_100"] == pytest.approx(fee_lit / 4)
    assert lit["provided_shares"] == 0 and lit["provided_fee_per_100"] is None
    assert lit["avg_duration_s"] == pytest.approx((1 + 1 + 55) / 3)
    drk = rows(r, venue="DRK1")
    assert drk["midpoint_shares"] == 200 and drk["midpoint_pct"] == pytest.approx(1.0)
    assert drk["net_fee_per_100"] == pytest.approx(200 * 10.01 * 0.1 / 1e4 / 2) and drk["venue_type"] == "DARK"
    ecn = rows(r, venue="ECNM")
    rebate = 600 * 10.04 * -0.2 / 1e4
    assert ecn["near_side_shares"] == 600 and ecn["provided_shares"] == 600
    assert ecn["provided_net_fee_usd"] == pytest.approx(rebate) and ecn["net_fee_per_100"] == pytest.approx(rebate / 6)
    assert float(ecn["net_fee_per_100"]) < 0  # type: ignore[arg-type]  # a rebate


def test_rts28_top_venues(data: ReportData) -> None:
    t = rts28_table(data).frame
    assert t["venue"].to_list() == ["ECNM", "LITA", "DRK1"]
    ecn, lit, drk = t.row(0, named=True), t.row(1, named=True), t.row(2, named=True)
    assert ecn["volume_pct"] == pytest.approx(0.5) and lit["volume_pct"] == pytest.approx(400 / 1200)
    assert lit["orders_pct"] == pytest.approx(0.5) and drk["orders_pct"] == pytest.approx(0.25)
    assert (ecn["passive_pct"], ecn["aggressive_pct"]) == (1.0, 0.0)
    assert (lit["passive_pct"], lit["aggressive_pct"]) == (0.0, 1.0)
    assert (drk["passive_pct"], drk["aggressive_pct"]) == (0.0, 0.0)


def test_summary_volume(data: ReportData) -> None:
    v = volume_table(data).frame
    buy, sell, both = rows(v, side="BUY"), rows(v, side="SELL"), rows(v, side="ALL")
    assert (buy["parent_orders"], buy["child_orders"], buy["routed_shares"], buy["filled_shares"]) == (1, 3, 850, 500)
    assert buy["notional_usd"] == pytest.approx(300 * 10.02 + 200 * 10.01)
    assert sell["notional_usd"] == pytest.approx(600 * 10.04 + 100 * 9.97)
    assert both["ordered_shares"] == 1700 and both["filled_shares"] == 1200


def test_outliers(data: ReportData) -> None:
    o = outside_nbbo_table(data).frame
    assert o["exec_id"].to_list() == ["E4"]
    r = o.row(0, named=True)
    assert (r["child_id"], r["parent_id"], r["nbbo_bid"]) == ("C4", "P2", 9.98)
    assert r["outside_bps"] == pytest.approx(0.01 / 9.99 * 1e4)
    w = worst_children_table(data).frame
    slip = {r["child_id"]: r["arrival_slippage_bps"] for r in w.iter_rows(named=True)}
    assert slip["C1"] == pytest.approx((10.02 - 10.01) / 10.01 * 1e4 + 0.3)
    assert slip["C4"] == pytest.approx(-(9.97 - 9.99) / 9.99 * 1e4 + 0.3)
    assert w["arrival_slippage_bps"].to_list() == sorted(w["arrival_slippage_bps"].to_list(), reverse=True)
    assert w.filter(pl.col("child_id") == "C1")["exec_ids"].item() == "E1"


def test_oracle_policy_costs_match_hand(data: ReportData) -> None:
    ml = data.children.filter(pl.col("router_policy").str.starts_with("model:"))
    r = daily_policy_costs(ml, data.oracle, ["DRK1", "DRK2", "ECNM", "ECNI", "LITA", "LITB"])
    assert (r["static"], r["routed"], r["oracle"]) == pytest.approx((3.5, 2.0, 2.0))


def test_paired_test_matches_scipy() -> None:
    from scipy import stats

    a, b = [3.0, 2.5, 4.0, 3.2], [2.0, 2.4, 3.1, 2.0]
    t = paired_test("x", pl.Series(a).to_numpy(), pl.Series(b).to_numpy(), seed=7)
    ref = stats.ttest_rel(a, b)
    assert t.n_days == 4 and t.p_value == pytest.approx(ref.pvalue) and t.t_stat == pytest.approx(ref.statistic)
    assert t.mean_diff_bps == pytest.approx(0.8) and t.boot_low is not None and t.boot_high is not None
    assert t.boot_low <= 0.8 <= t.boot_high
    assert paired_test("x", pl.Series([1.0]).to_numpy(), pl.Series([0.0]).to_numpy(), seed=7).p_value is None
