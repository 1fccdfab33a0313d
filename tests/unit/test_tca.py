"""TCA SQL: hand-computed metrics (buy and sell), pandas-reference agreement, SQL hygiene."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from schemas.tca import TcaAgg, TcaChild, TcaParent
from sor_pipeline.config.settings import Settings
from sor_pipeline.features import build_features
from sor_pipeline.storage.lake import Lake
from sor_pipeline.storage.sql import sql_dir
from sor_pipeline.tca.run import run_tca, tca_frames
from tests.conftest import ts_series
from tests.fixtures_market import VENUES, make_day, write_day
from tests.reference_pandas import reference_labels

DAY = date(2024, 3, 5)


def t(sec: float) -> datetime:
    """15:00:00 UTC + ``sec`` seconds on DAY (microsecond precision is enough here)."""
    from datetime import UTC, timedelta
    return datetime(2024, 3, 5, 15, 0, 0, tzinfo=UTC) + timedelta(seconds=sec)


def hand_day() -> dict[str, pl.DataFrame]:
    nb = [(0.0, 10.00, 10.02), (1.5, 10.02, 10.04), (6.0, 10.04, 10.06), (90.0, 10.00, 10.02)]
    nbbo = pl.DataFrame({"ts": ts_series([t(x[0]) for x in nb]), "symbol": ["AAA"] * 4,
                         "bid_px": [x[1] for x in nb], "bid_sz": [100] * 4, "ask_px": [x[2] for x in nb],
                         "ask_sz": [100] * 4, "mid_px": [(x[1] + x[2]) / 2 for x in nb],
                         "flag": [None] * 4}, schema_overrides={"flag": pl.String})
    parents = pl.DataFrame({
        "parent_id": ["P1", "P2"], "date": [DAY, DAY], "symbol": ["AAA", "AAA"], "side": ["BUY", "SELL"],
        "qty": [1000, 400], "order_type": ["MKT", "LMT"], "limit_px": [None, 10.0], "urgency": ["HIGH", "LOW"],
        "arrival_ts": ts_series([t(0.2), t(1.8)]), "client_id": ["X", "Y"], "strategy": ["IS", "DARK"],
    }, schema_overrides={"limit_px": pl.Float64})
    children = pl.DataFrame({
        "child_id": ["C1", "C2", "C3"], "parent_id": ["P1", "P2", "P1"], "symbol": ["AAA"] * 3,
        "side": ["BUY", "SELL", "BUY"], "venue": ["ECNM", "DRK1", "LITA"], "order_type": ["MKT", "LMT", "MKT"],
        "tif": ["IOC", "DAY", "IOC"], "limit_px": [None, 10.0, None], "qty": [500, 400, 500],
        "sent_ts": ts_series([t(0.5), t(2.0), t(3.0)]), "router_policy": ["static", "model:1", "static"],
        "route_rank": [1, 1, 2], "propensity": [1.0, 0.5, 1.0], "predicted_cost_bps": [None, 1.0, None],
        "status": ["PARTIAL", "FILLED", "CANCELLED"], "done_ts": ts_series([t(1.0), t(5.0), t(4.0)]),
    }, schema_overrides={"limit_px": pl.Float64, "predicted_cost_bps": pl.Float64})
    fills = pl.DataFrame({
        "exec_id": ["E1", "E2", "E3"], "child_id": ["C1", "C1", "C2"], "ts": ts_series([t(1.0), t(1.0), t(5.0)]),
        "qty": [300, 100, 400], "px": [10.02, 10.01, 10.03], "liquidity": ["REMOVE", "ADD", "MID"],
        "fee_bps": [0.3, -0.2, 0.1],
    })
    tr = [(0.4, 10.5, 999), (0.5, 10.02, 200), (0.8, 10.05, 100), (1.0, 10.00, 100), (1.1, 11.0, 999),
          (3.0, 10.04, 300)]
    trades = pl.DataFrame({"ts": ts_series([t(x[0]) for x in tr]), "symbol": ["AAA"] * len(tr),
                           "venue": ["LITA"] * len(tr), "px": [x[1] for x in tr], "qty": [x[2] for x in tr],
                           "cond": [None] * len(tr)}, schema_overrides={"cond": pl.String})
    depth = {"ts": ts_series([t(0.0)]), "symbol": ["AAA"], "venue": ["LITA"]}
    for k in range(1, 6):
        depth |= {f"bid_px_{k}": [10.0 - 0.01 * k], f"bid_sz_{k}": [100], f"ask_px_{k}": [10.02 + 0.01 * k],
                  f"ask_sz_{k}": [100]}
    return {"nbbo": nbbo, "parent_orders": parents, "child_orders": children, "fills": fills, "trades": trades,
            "venues": VENUES, "depth": pl.DataFrame(depth)}


@pytest.fixture(scope="module")
def hand_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("hand"))
    write_day(lake, DAY, hand_day())
    run_tca(DAY, lake)
    return lake


def row(lake: Lake, name: str, key: str, value: str) -> dict[str, object]:
    return lake.read_day(name, DAY).filter(pl.col(key) == value).row(0, named=True)


def test_child_buy_hand_computed(hand_lake: Lake) -> None:
    r = row(hand_lake, "tca_child", "child_id", "C1")
    avg, mid = 4007 / 400, 10.01
    assert r["arrival_mid"] == pytest.approx(mid) and r["avg_fill_px"] == pytest.approx(avg)
    assert r["fee_bps"] == pytest.approx((300 * 0.3 - 100 * 0.2) / 400)
    assert r["arrival_slippage_bps"] == pytest.approx((avg - mid) / mid * 1e4 + 0.175)
    mk = lambda m: (300 * (m - 10.02) / 10.02 + 100 * (m - 10.01) / 10.01) / 400 * 1e4  # noqa: E731
    assert r["markout_1s_bps"] == pytest.approx(mk(10.03))
    assert r["markout_5s_bps"] == pytest.approx(mk(10.05))  # quote stamped exactly at fill + 5 s counts
    assert r["markout_60s_bps"] == pytest.approx(mk(10.05))
    assert r["effective_spread_bps"] == pytest.approx(2 * (avg - mid) / mid * 1e4)
    assert r["realized_spread_1s_bps"] == pytest.approx(2 * (avg - 10.03) / mid * 1e4)
    assert r["realized_spread_5s_bps"] == pytest.approx(2 * (avg - 10.05) / mid * 1e4)
    assert r["price_improvement_bps"] == pytest.approx((100 * 0.01) / 400 / mid * 1e4)
    assert r["fill_rate"] == pytest.approx(0.8) and r["filled_qty"] == 400
    assert r["time_to_fill_s"] == pytest.approx(0.5)
    vwap = (200 * 10.02 + 100 * 10.05 + 100 * 10.00) / 400  # prints in [sent, done], both ends included
    assert r["interval_vwap"] == pytest.approx(vwap)
    assert r["interval_vwap_slippage_bps"] == pytest.approx((avg - vwap) / vwap * 1e4)
    assert (r["add_share"], r["remove_share"], r["mid_share"]) == pytest.approx((0.25, 0.75, 0.0))
    assert r["notional"] == pytest.approx(4007.0)


def test_child_sell_hand_computed(hand_lake: Lake) -> None:
    r = row(hand_lake, "tca_child", "child_id", "C2")
    px, mid = 10.03, 10.03
    assert r["arrival_mid"] == pytest.approx(mid)
    assert r["arrival_slippage_bps"] == pytest.approx(0.1)  # at the mid: only the fee
    assert r["markout_1s_bps"] == pytest.approx(-(10.05 - px) / px * 1e4)  # price rose after we sold: adverse
    assert r["markout_1s_bps"] < 0
    assert r["effective_spread_bps"] == pytest.approx(0.0)
    assert r["realized_spread_1s_bps"] == pytest.approx(-2 * (px - 10.05) / mid * 1e4)
    assert r["price_improvement_bps"] == pytest.approx(-(10.02 - px) / mid * 1e4) and r["price_improvement_bps"] > 0
    assert r["interval_vwap_slippage_bps"] == pytest.approx(-(px - 10.04) / 10.04 * 1e4)  # sold below vwap: cost
    assert r["time_to_fill_s"] == pytest.approx(3.0) and r["fill_rate"] == pytest.approx(1.0)
    assert r["mid_share"] == pytest.approx(1.0)


def test_unfilled_child(hand_lake: Lake) -> None:
    r = row(hand_lake, "tca_child", "child_id", "C3")
    assert r["filled_qty"] == 0 and r["fill_rate"] == 0.0 and r["notional"] == 0.0
    assert r["avg_fill_px"] is None and r["arrival_slippage_bps"] is None and r["time_to_fill_s"] is None


def test_parent_implementation_shortfall(hand_lake: Lake) -> None:
    p1 = row(hand_lake, "tca_parent", "parent_id", "P1")
    paper = 1000 * 10.01
    fees = (300 * 10.02 * 0.3 + 100 * 10.01 * -0.2) / 1e4
    assert p1["arrival_mid"] == pytest.approx(10.01) and p1["end_mid"] == pytest.approx(10.03)  # end = C3 done 4 s
    assert p1["execution_cost_bps"] == pytest.approx((4007 - 400 * 10.01) / paper * 1e4)
    assert p1["opportunity_cost_bps"] == pytest.approx(600 * (10.03 - 10.01) / paper * 1e4)
    assert p1["fees"] == pytest.approx(fees) and p1["fees_bps"] == pytest.approx(fees / paper * 1e4)
    assert p1["implementation_shortfall_bps"] == pytest.approx((3 + 12 + fees) / paper * 1e4)
    assert p1["fill_rate"] == pytest.approx(0.4) and p1["n_children"] == 2
    assert p1["duration_s"] == pytest.approx(3.8)
    p2 = row(hand_lake, "tca_parent", "parent_id", "P2")
    assert p2["execution_cost_bps"] == pytest.approx(0.0, abs=1e-9)
    assert p2["opportunity_cost_bps"] == pytest.approx(0.0, abs=1e-9)
    assert p2["implementation_shortfall_bps"] == pytest.approx(0.1)
    assert p2["duration_s"] == pytest.approx(3.2)


def test_agg_hand_computed(hand_lake: Lake) -> None:
    agg = hand_lake.read_day("tca_agg", DAY)
    TcaAgg.validate(agg)
    r = agg.filter((pl.col("dimension") == "router_policy") & (pl.col("key") == "static")
                   & (pl.col("metric") == "fill_rate")).row(0, named=True)
    vals = np.array([0.8, 0.0])
    assert r["n"] == 2 and r["mean"] == pytest.approx(0.4) and r["median"] == pytest.approx(0.4)
    assert r["p95"] == pytest.approx(0.8 * 0.95)
    half = 1.96 * vals.std(ddof=1) / np.sqrt(2)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.4 - half, 0.4 + half))
    slip = agg.filter((pl.col("dimension") == "venue") & (pl.col("key") == "LITA")
                      & (pl.col("metric") == "arrival_slippage_bps"))
    assert slip.is_empty()  # C3 never filled: no slippage values, no row
    assert set(agg["dimension"].unique()) == {"venue", "day", "symbol", "order_type", "size_bucket", "router_policy"}


def test_tca_matches_pandas_reference_and_features(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    frames = make_day(DAY, n_symbols=5, n_parents=40, seed=5)
    write_day(lake, DAY, frames)
    child = tca_frames(DAY, lake)["tca_child"].sort("child_id")
    TcaChild.validate(child)
    ref = reference_labels(frames["child_orders"], frames["fills"], frames["nbbo"])
    feats = build_features(DAY, lake, Settings(home=tmp_path)).sort("child_id")
    cols = ["arrival_mid", "avg_fill_px", "fee_bps", "arrival_slippage_bps", "markout_1s_bps", "markout_5s_bps",
            "markout_30s_bps", "markout_60s_bps"]
    for col in cols:
        got, want, ft = (child[col].to_numpy().astype(float), ref[col].to_numpy().astype(float),
                         feats[col].to_numpy().astype(float))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=col)  # nan == nan
        np.testing.assert_allclose(ft, want, rtol=0, atol=1e-9, err_msg=col)
    assert child["filled_qty"].to_list() == feats["filled_qty"].to_list()
    np.testing.assert_allclose(child["time_to_fill_s"].to_numpy().astype(float),
                               feats["time_to_fill_s"].to_numpy().astype(float), atol=1e-9)


def test_run_tca_writes_valid_partitions(hand_lake: Lake) -> None:
    TcaChild.validate(hand_lake.read_day("tca_child", DAY))
    TcaParent.validate(hand_lake.read_day("tca_parent", DAY))
    assert hand_lake.read_day("tca_child", DAY).height == 3


def test_sql_files_are_single_parameterised_statements() -> None:
    for name in ("tca_child", "tca_parent", "tca_agg"):
        text = (sql_dir() / f"{name}.sql").read_text()
        code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
        assert "$date" in code and "{" not in code and "%s" not in code
        assert code.strip().count(";") == 0, "one statement per file, no trailing statements"
        assert not re.search(r"'20\d\d-\d\d-\d\d'", code), "dates are bound, never inlined"
        assert code == code.lower() or re.sub(r"'[^']*'", "", code) == re.sub(r"'[^']*'", "", code).lower()
