"""ModelPolicy is a simulator RoutingPolicy (closed loop: the sim routes with it); fallback labelling.

load_policy (static without a champion, ModelPolicy on it) is tested in test_router_parity.py, which
already pays for an MLflow store."""

from __future__ import annotations

from datetime import date

import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.learning.router_model import RouterModel, VenueModel
from sor_pipeline.serving import LiveRouter
from sor_pipeline.simulation import RoutingPolicy, SimConfig, SimDay, simulate_day
from sor_pipeline.simulation.model_policy import ModelPolicy
from sor_pipeline.simulation.policy import RANKING_SCHEMA, REQUEST_SCHEMA

DAY = date(2024, 3, 5)
# DRK2 toxic and ECNI cheap; LITB is not in the model (a venue unseen in training)
HAND = {"DRK1": ("DARK", 0.5, 0.8), "DRK2": ("DARK", 0.8, 12.0), "ECNM": ("ECN", 0.9, 2.0),
        "ECNI": ("ECN", 0.7, 0.2), "LITA": ("LIT", 0.97, 4.0)}


def _model(nan: bool = False) -> RouterModel:
    spec = {**HAND, **({"ECNM": ("ECN", 0.9, float("nan"))} if nan else {})}
    return RouterModel({v: VenueModel(v, t, fill_const=p, slippage_const_bps=s) for v, (t, p, s) in spec.items()})


def _config() -> SimConfig:
    return SimConfig(seed=3, n_symbols=2, quote_updates_per_symbol=300, parent_orders_per_symbol=6,
                     trades_per_symbol=60)


def _requests(day: SimDay) -> pl.DataFrame:
    p = day.tables["parent_orders"]
    return p.select(pl.col("parent_id").alias("request_id"), "parent_id", "symbol", "side", "qty", "order_type",
                    pl.lit("IOC").alias("tif"), "limit_px", "urgency",
                    pl.col("arrival_ts").alias("decision_ts")).cast(REQUEST_SCHEMA)  # type: ignore[arg-type]


def _check_ranking(ranking: pl.DataFrame, requests: pl.DataFrame, venues: list[str]) -> None:
    # the policy contract's columns first; a model's ranking adds its predicted slippage (the guard's input)
    assert list(ranking.schema.items())[:len(RANKING_SCHEMA)] == list(pl.Schema(RANKING_SCHEMA).items())
    assert set(ranking.columns) - set(RANKING_SCHEMA) <= {"predicted_slippage_bps"}
    assert ranking["request_id"].n_unique() == requests.height
    per = ranking.group_by("request_id").agg(pl.col("venue").sort(), pl.col("rank").sort())
    for vs, ranks in per.select("venue", "rank").iter_rows():
        assert vs == sorted(venues) and ranks == list(range(1, len(venues) + 1))


def test_model_policy_is_a_routing_policy_and_runs_the_sim_closed(settings: Settings) -> None:
    policy = ModelPolicy(LiveRouter(_model(), static_waterfall=settings.router.static_waterfall, version="4"), settings)
    assert isinstance(policy, RoutingPolicy) and policy.name == "model:4"
    day = simulate_day(_config(), DAY, 0, policy=policy)  # the sim routes with the model
    assert {p.split("/")[0] for p in day.tables["child_orders"]["router_policy"].unique()} == {"model:4"}
    market = day.market
    assert market is not None
    venues = market.venues["venue"].to_list()
    requests = _requests(day)
    ranking = policy.rank(requests, market)
    _check_ranking(ranking, requests, venues)
    first = ranking.filter(pl.col("rank") == 1)
    assert set(first["venue"]) <= {"ECNI", "DRK1"}  # the cheapest by expected cost
    last_known = ranking.filter(pl.col("venue") == "DRK2")["rank"]
    assert (last_known == len(HAND)).all()  # toxic pool last among scored venues
    assert ranking.filter(pl.col("venue") == "LITB")["predicted_cost_bps"].is_null().all()
    assert ranking.filter(pl.col("venue") != "LITB")["predicted_cost_bps"].is_not_null().all()
    assert policy.fallbacks == 0


def test_model_policy_falls_back_on_nan_and_without_model(settings: Settings) -> None:
    day = simulate_day(_config(), DAY, 0)
    assert day.market is not None
    requests = _requests(day)
    venues = day.market.venues["venue"].to_list()
    nan_policy = ModelPolicy(LiveRouter(_model(nan=True), static_waterfall=settings.router.static_waterfall,
                                        version="5"))
    ranking = nan_policy.rank(requests, day.market)
    _check_ranking(ranking, requests, venues)
    assert nan_policy.fallbacks == requests.height and ranking["predicted_cost_bps"].is_null().all()
    top = ranking.filter(pl.col("rank") == 1)["venue"].unique().to_list()
    assert top == [settings.router.static_waterfall[0]]
    empty = ModelPolicy(LiveRouter(None, static_waterfall=settings.router.static_waterfall, version="6"))
    assert empty.name == "model:6/fallback"
    _check_ranking(empty.rank(requests, day.market), requests, venues)
