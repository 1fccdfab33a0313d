"""Simulator core: schemas, cross-table consistency, determinism, NBBO, policies and propensities."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from schemas import ChildOrders, Depth, Fills, Nbbo, ParentOrders, Quotes, SimOracle, Trades, Venues
from schemas.relations import check_children_against_parents, check_fills_against_children
from sor_pipeline.ingest.nbbo import build_nbbo
from sor_pipeline.simulation import MarketState, OraclePolicy, SimConfig, StaticWaterfall, simulate_day
from sor_pipeline.simulation.metrics import daily_policy_costs

DAY = date(2024, 3, 5)
STATIC = ["DRK1", "DRK2", "ECNM", "ECNI", "LITA", "LITB"]
MODELS = {"parent_orders": ParentOrders, "child_orders": ChildOrders, "fills": Fills, "venues": Venues,
          "quotes": Quotes, "depth": Depth, "trades": Trades}


@pytest.fixture(scope="module")
def day():
    return simulate_day(SimConfig(), DAY, 0)


def test_tables_conform_to_schemas(day) -> None:
    for name, model in MODELS.items():
        model.validate(day.tables[name])
    SimOracle.validate(day.oracle)
    Nbbo.validate(day.market.nbbo)
    assert "date" in day.tables["parent_orders"].columns
    assert check_fills_against_children(day.tables["fills"], day.tables["child_orders"]).height == 0
    assert check_children_against_parents(day.tables["child_orders"], day.tables["parent_orders"]).height == 0


def test_child_outcomes_are_consistent(day) -> None:
    co, fl = day.tables["child_orders"], day.tables["fills"]
    agg = fl.group_by("child_id").agg(pl.col("qty").sum().alias("filled"), pl.col("ts").max().alias("last"))
    j = co.join(agg, on="child_id", how="left").with_columns(pl.col("filled").fill_null(0))
    assert j.filter(pl.col("status") == "FILLED").select((pl.col("filled") == pl.col("qty")).all()).item()
    assert j.filter(pl.col("status") == "PARTIAL").select(
        ((pl.col("filled") > 0) & (pl.col("filled") < pl.col("qty"))).all()).item()
    assert j.filter(pl.col("status").is_in(["CANCELLED", "REJECTED"])).select((pl.col("filled") == 0).all()).item()
    assert j.filter(pl.col("last").is_not_null()).select((pl.col("done_ts") >= pl.col("last")).all()).item()
    # every parent is fully worked: the rank-1 slices add up to the parent quantity, all filled in the end
    first = co.filter(pl.col("route_rank") == 1).group_by("parent_id").agg(pl.col("qty").sum())
    p = day.tables["parent_orders"].select("parent_id", pl.col("qty").alias("pq")).join(first, on="parent_id")
    assert p.height == day.tables["parent_orders"].height and (p["qty"] == p["pq"]).all()
    filled = fl.join(co.select("child_id", "parent_id"), on="child_id").group_by("parent_id").agg(pl.col("qty").sum())
    both = p.join(filled, on="parent_id")
    assert both.height == p.height and (both["qty_right"] == both["pq"]).all()
    # the waterfall: the next rank is sent after the previous outcome
    nxt = co.sort("child_id").with_columns(
        pl.col("child_id").str.replace(r"-\d+$", "").alias("rq")).sort("rq", "route_rank")
    prev_done = nxt.select(pl.col("done_ts").shift(1).over("rq").alias("pd"), "sent_ts")
    assert prev_done.filter(pl.col("pd").is_not_null()).select((pl.col("sent_ts") > pl.col("pd")).all()).item()


def test_session_and_timestamps(day) -> None:
    q = day.tables["quotes"]
    assert q.schema["ts"] == pl.Datetime("ns", "UTC")
    local = q["ts"].dt.convert_time_zone("America/New_York")
    assert local.dt.hour().min() >= 9 and local.dt.hour().max() <= 15
    assert (local.dt.date() == DAY).all()


def test_deterministic_for_a_seed() -> None:
    cfg = SimConfig(n_symbols=3, parent_orders_per_symbol=20, quote_updates_per_symbol=500)
    a, b = simulate_day(cfg, DAY, 2), simulate_day(cfg, DAY, 2)
    for name in MODELS:
        assert a.tables[name].equals(b.tables[name]), name
    assert a.oracle.equals(b.oracle)
    c = simulate_day(SimConfig(seed=8, n_symbols=3, parent_orders_per_symbol=20, quote_updates_per_symbol=500), DAY, 2)
    assert not a.tables["fills"].equals(c.tables["fills"])


def test_nbbo_never_crossed_and_dark_pools_do_not_quote(day) -> None:
    q = day.tables["quotes"]
    assert set(q["venue"].unique()) == {"ECNM", "ECNI", "LITA", "LITB"}
    derived = build_nbbo(q)
    assert (derived["bid_px"] < derived["ask_px"]).all()
    assert derived["flag"].null_count() == derived.height
    d = day.tables["depth"]
    assert set(d["venue"].unique()) == {"LITA", "LITB"}
    lit = q.filter(pl.col("venue").is_in(["LITA", "LITB"])).select("ts", "symbol", "venue", "bid_px", "ask_px")
    assert lit.equals(d.select("ts", "symbol", "venue", pl.col("bid_px_1").alias("bid_px"),
                               pl.col("ask_px_1").alias("ask_px")))


def test_exploration_propensities() -> None:
    eps = 0.3
    cfg = SimConfig(n_symbols=6, parent_orders_per_symbol=150, epsilon=eps, quote_updates_per_symbol=500)
    d = simulate_day(cfg, DAY, 0)
    first = d.tables["child_orders"].filter(pl.col("route_rank") == 1)
    n, nv = first.height, len(cfg.venues)
    freq = first["venue"].value_counts(normalize=True)
    share = dict(zip(freq["venue"], freq["proportion"], strict=True))
    for v in STATIC[1:]:
        assert abs(share.get(v, 0.0) - eps / nv) < 4 * np.sqrt(eps / nv / n)
    expect = first.select(pl.when(pl.col("venue") == "DRK1").then(1 - eps + eps / nv).otherwise(eps / nv))
    assert np.allclose(first["propensity"].to_numpy(), expect.to_series().to_numpy())
    assert (d.tables["child_orders"].filter(pl.col("route_rank") > 1)["propensity"] == 1.0).all()
    assert set(first["router_policy"].unique()) == {"static", "static/explore"}


def test_regret_oracle_zero_static_positive() -> None:
    cfg = SimConfig(n_symbols=6, parent_orders_per_symbol=100, epsilon=0.0, quote_updates_per_symbol=500)
    oracle = simulate_day(cfg, DAY, 0, policy=OraclePolicy())
    m = daily_policy_costs(oracle.tables["child_orders"], oracle.oracle, STATIC)
    assert abs(m["regret_bps"]) < 1e-9 and m["n"] > 0
    static = simulate_day(cfg, DAY, 0, policy=StaticWaterfall(STATIC))
    s = daily_policy_costs(static.tables["child_orders"], static.oracle, STATIC)
    assert s["regret_bps"] > 0.1
    assert s["static"] == pytest.approx(s["routed"]) and s["oracle"] == pytest.approx(m["oracle"])


class ReversePolicy:
    """A policy object as the ML router would be: ranks lit first, with cost predictions."""

    name = "model:3"

    def rank(self, requests: pl.DataFrame, market: MarketState) -> pl.DataFrame:
        assert market.quotes.height > 0 and market.venues.height == 6
        order = pl.DataFrame({"venue": STATIC[::-1], "rank": list(range(1, 7)),
                              "predicted_cost_bps": [float(i) for i in range(6)]})
        return requests.select("request_id").join(order, how="cross")


def test_custom_policy_is_logged() -> None:
    cfg = SimConfig(n_symbols=2, parent_orders_per_symbol=20, epsilon=0.0, quote_updates_per_symbol=500)
    d = simulate_day(cfg, DAY, 0, policy=ReversePolicy())
    co = d.tables["child_orders"]
    assert set(co["router_policy"]) == {"model:3"}
    assert set(co["venue"]) == {"LITB"} and (co["predicted_cost_bps"] == 0.0).all()
    ChildOrders.validate(co)
