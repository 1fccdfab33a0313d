"""The columnar router API gives what the object API gives, order by order (ranks, costs, legs,
exploration draws and propensities), with a trained model, a hand model, NaN scores and no model."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from sor_pipeline.config.exploration import ExplorationParams
from sor_pipeline.learning import TrainConfig, train_router
from sor_pipeline.learning.router_model import RouterModel
from sor_pipeline.serving import LiveRouter, MarketSnapshot, Order, Route
from sor_pipeline.serving.columnar import LEG_KINDS, OrderColumns, RouteColumns, SnapshotColumns
from tests.synthetic_features import make_days
from tests.unit.test_router import STATIC, T0, hand_model

EXPLORE = ExplorationParams(enabled=True, temperature_bps=2.0, floor=0.02, static_epsilon=0.3)


def _requests(venues: list[str], n: int, seed: int) -> tuple[list[Order], list[MarketSnapshot]]:
    rng = np.random.default_rng(seed)
    stats = {v: [float(x) for x in rng.normal(0.5, 1.0, 5)] for v in venues[1:]}  # first venue: no stats
    orders, snaps = [], []
    for i in range(n):
        lmt = i % 3 == 0
        side = "SELL" if i % 2 else "BUY"
        bid = float(rng.uniform(20, 200))
        orders.append(Order("AAA", side, int(rng.integers(1, 400)) * 100, "LMT" if lmt else "MKT",
                            "DAY" if i % 5 == 0 else "IOC", bid + (0.02 if side == "BUY" else -0.01) if lmt else None,
                            ["LOW", "MEDIUM", "HIGH", "??"][i % 4], T0 + int(rng.integers(-3_600, 30_000)) * 10**9))
        book = None if i % 7 == 0 else [float(x) for x in rng.integers(1, 40, 5) * 100]
        snaps.append(MarketSnapshot("AAA", orders[-1].ts, bid, bid + 0.02, bid_sz=book,
                                    ask_sz=None if book is None else book[::-1],
                                    rvol_5m_bps=None if i % 6 == 0 else float(rng.uniform(2, 50)),
                                    adv=[1e6, None, 0.0, 3e7][i % 4], venue_stats=stats,
                                    displayed=None if i % 4 == 0 else {v: 100.0 * (1 + (i + k) % 9)
                                                                       for k, v in enumerate(venues[2:])}))
    return orders, snaps


def _assert_same(routes: list[Route], cols: RouteColumns) -> None:
    names = cols.venues
    for i, r in enumerate(routes):
        k = len(r.ranked_venues)
        assert [names[j] for j in cols.ranked[i, :k]] == r.ranked_venues, i
        assert (cols.ranked[i, k:] == -1).all()
        for field in ("p_fill", "slippage_bps", "expected_cost_bps"):
            want = getattr(r, field) or [np.nan] * k
            np.testing.assert_array_equal(getattr(cols, field)[i, :k], want, err_msg=f"row {i} {field}")
        np.testing.assert_array_equal(cols.fallback_bps[i], r.fallback_bps)
        legs = [(names[v], int(q), LEG_KINDS[int(c)]) for v, q, c in zip(cols.leg_venue[i], cols.leg_qty[i],
                                                                           cols.leg_kind[i], strict=True) if v >= 0]
        assert legs == [(a.venue, a.qty, a.reason) for a in r.allocations], i
        assert cols.propensity[i] == r.propensity and cols.explored[i] == r.explored, i
        assert cols.fallback[i] == r.fallback and cols.policies[cols.policy_code[i]] == r.policy, i


def _pair(model: RouterModel | None, explore: ExplorationParams) -> tuple[LiveRouter, LiveRouter]:
    kw = dict(static_waterfall=STATIC, version="7", exploration=explore, seed=5)
    return LiveRouter(model, **kw), LiveRouter(model, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained() -> RouterModel:
    features, _ = make_days(date(2024, 3, 4), 3, 200, seed=4)
    model, _ = train_router(features, TrainConfig(n_estimators=30, max_depth=4))
    return model


@pytest.mark.parametrize("explore", [EXPLORE, ExplorationParams(enabled=False)], ids=["explore", "greedy"])
def test_columnar_equals_object_api_trained_model(trained: RouterModel, explore: ExplorationParams) -> None:
    one, many = _pair(trained, explore)
    assert one.scorer_kind == "compiled"
    orders, snaps = _requests(one.venues, 400, seed=1)
    routes = [one.route(o, s) for o, s in zip(orders, snaps, strict=True)]
    cols = many.route_columns(OrderColumns.from_orders(orders), SnapshotColumns.from_snapshots(snaps, many.venues))
    _assert_same(routes, cols)
    if explore.enabled:  # the case exercises re-allocation of explored rows
        assert 20 < int(cols.explored.sum()) < 380 and (cols.propensity < 1).all()
    assert many.stats.routes == one.stats.routes == 400
    # a second call continues the random stream exactly as route() does
    more = [one.route(o, s) for o, s in zip(orders[:50], snaps[:50], strict=True)]
    _assert_same(more, many.route_columns(OrderColumns.from_orders(orders[:50]),
                                          SnapshotColumns.from_snapshots(snaps[:50], many.venues)))


def test_columnar_nan_scores_and_no_model() -> None:
    """Non-finite scores go to the static waterfall with the same draw; without a model every row does."""
    nan_model = hand_model({"ECNI": ("ECN", float("nan"), 2.0)})
    for model in (nan_model, hand_model(), None):
        one, many = _pair(model, EXPLORE)
        orders, snaps = _requests(one.venues or STATIC, 60, seed=2)
        routes = [one.route(o, s) for o, s in zip(orders, snaps, strict=True)]
        cols = many.route_columns(OrderColumns.from_orders(orders),
                                  SnapshotColumns.from_snapshots(snaps, many.venues, many.column_venues))
        assert cols.venues == many.column_venues
        _assert_same(routes, cols)
        assert many.stats.fallbacks == one.stats.fallbacks and many.stats.routes == one.stats.routes
