"""The simulator's statistics match its configuration: fill rates, fee signs, toxic markouts, oracle."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from sor_pipeline.simulation import Regime, SimConfig, simulate_day
from sor_pipeline.simulation.metrics import realized_child_costs

DAY = date(2024, 3, 5)


def _cfg(**kw: object) -> SimConfig:
    base: dict[str, object] = dict(n_symbols=8, parent_orders_per_symbol=250, quote_updates_per_symbol=600,
                                   trades_per_symbol=100, epsilon=1.0,
                                   regimes=[Regime("toxic", start_day=3, factor=8.0, venue="DRK2")])
    base.update(kw)
    return SimConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def explored():
    """A day routed uniformly at random at rank 1 (epsilon = 1): every venue sees the same population."""
    return simulate_day(_cfg(), DAY, 0)


def _markout_5s(day) -> pl.DataFrame:
    nb = day.market.nbbo.select("ts", "symbol", "mid_px").sort("ts")
    f = day.tables["fills"].join(day.tables["child_orders"].select("child_id", "symbol", "side", "venue"),
                                 on="child_id")
    f = f.with_columns(pl.col("ts").dt.offset_by("5s").alias("t5")).sort("t5")
    f = f.join_asof(nb, left_on="t5", right_on="ts", by="symbol", strategy="backward", check_sortedness=False)
    s = pl.when(pl.col("side") == "BUY").then(1.0).otherwise(-1.0)
    return f.with_columns((s * (pl.col("mid_px") - pl.col("px")) / pl.col("px") * 1e4).alias("markout_5s_bps"))


def test_fill_rates_by_venue_kind(explored) -> None:
    co, fl = explored.tables["child_orders"], explored.tables["fills"]
    first = co.filter(pl.col("route_rank") == 1)
    filled = fl.group_by("child_id").agg(pl.col("qty").sum().alias("f"))
    kinds = explored.tables["venues"].select("venue", "venue_type")
    rate = (first.join(filled, on="child_id", how="left").join(kinds, on="venue")
            .group_by("venue_type").agg((pl.col("f").fill_null(0) / pl.col("qty")).mean().alias("r")))
    r = dict(zip(rate["venue_type"], rate["r"], strict=True))
    assert r["LIT"] == pytest.approx(1.0)
    assert r["LIT"] > r["ECN"] > r["DARK"] > 0.05


def test_fee_signs_per_venue_kind(explored) -> None:
    f = explored.tables["fills"].join(explored.tables["child_orders"].select("child_id", "venue"), on="child_id")
    g = f.group_by("venue", "liquidity").agg(pl.col("fee_bps").min().alias("lo"), pl.col("fee_bps").max().alias("hi"))
    sign = {(r["venue"], r["liquidity"]): (r["lo"], r["hi"]) for r in g.iter_rows(named=True)}
    assert sign[("ECNM", "REMOVE")][0] > 0 and sign[("ECNM", "ADD")][1] < 0  # maker-taker: taker pays
    assert sign[("ECNI", "REMOVE")][1] < 0 and sign[("ECNI", "ADD")][0] > 0  # inverted: taker rebate
    assert sign[("LITA", "REMOVE")][0] > 0 and sign[("DRK1", "MID")][0] > 0
    assert {liq for (v, liq) in sign if v.startswith("DRK")} == {"MID"}
    assert {liq for (v, liq) in sign if v.startswith("LIT")} == {"REMOVE"}


def test_toxic_pool_markouts_turn_negative(explored) -> None:
    before = _markout_5s(explored).filter(pl.col("venue") == "DRK2")["markout_5s_bps"].mean()
    after_day = simulate_day(_cfg(), DAY, 4)
    after = _markout_5s(after_day).filter(pl.col("venue") == "DRK2")
    other = _markout_5s(after_day).filter(pl.col("venue") == "DRK1")["markout_5s_bps"].mean()
    assert after["markout_5s_bps"].mean() < -4.0
    assert after["markout_5s_bps"].mean() < before - 3.0  # type: ignore[operator]
    assert after["markout_5s_bps"].mean() < other - 3.0  # type: ignore[operator]


def test_fill_rate_regime_halves_ecn_fill_rate() -> None:
    cfg = _cfg(regimes=[Regime("fill_rate", start_day=1, factor=0.5, venue="ECNM")], parent_orders_per_symbol=120)

    def rate(day_index: int) -> float:
        d = simulate_day(cfg, DAY, day_index)
        o = d.oracle.join(d.tables["child_orders"].filter(pl.col("route_rank") == 1).select("child_id"),
                          on="child_id", how="semi")
        return float(o.filter(pl.col("venue") == "ECNM")["p_fill"].mean())  # type: ignore[arg-type]

    assert rate(1) == pytest.approx(0.5 * rate(0), rel=0.15)


def test_oracle_matches_realized_cost(explored) -> None:
    r = realized_child_costs(explored.tables["child_orders"], explored.tables["fills"], explored.oracle,
                             explored.market.nbbo)
    g = r.group_by("venue").agg(
        pl.len().alias("n"), pl.col("realized_cost_bps").mean().alias("realized"),
        pl.col("expected_cost_bps").mean().alias("expected"),
        ((pl.col("realized_cost_bps") - pl.col("expected_cost_bps")).std() / pl.len().sqrt()).alias("se"))
    assert g.height == 6
    for row in g.iter_rows(named=True):
        assert row["n"] > 100
        assert abs(row["realized"] - row["expected"]) <= 4 * row["se"] + 1e-9, row
