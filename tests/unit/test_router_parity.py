"""The compiled fast path scores exactly like XGBoost and like the registered MLflow pyfunc (1e-6)."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.features.online import ALL_FEATURES, ORDER_FEATURES
from sor_pipeline.learning import TrainConfig, train_router
from sor_pipeline.serving import (
    CompiledScorer,
    LiveRouter,
    MarketSnapshot,
    Order,
    ReferenceScorer,
)
from sor_pipeline.serving.pyfunc import load_pyfunc, pyfunc_frame
from sor_pipeline.simulation import StaticWaterfall
from sor_pipeline.simulation.model_policy import ModelPolicy, load_policy
from sor_pipeline.storage import registry
from tests.synthetic_features import VENUE_STAT_COLUMNS, make_days


def _tensor(features: pl.DataFrame, venues: list[str], n: int, seed: int = 0) -> np.ndarray:
    """(n, V, F): order features of n logged rows, each venue with its own (or missing) trailing stats."""
    rng = np.random.default_rng(seed)
    rows = features.sample(n, seed=seed).select([pl.col(c).cast(pl.Float64) for c in ORDER_FEATURES]).to_numpy()
    rows[rng.random(rows.shape) < 0.05] = np.nan  # some missing values: default directions
    stats = rng.normal(0.5, 1.0, (len(venues), len(VENUE_STAT_COLUMNS)))
    stats[0, :] = np.nan
    x = np.empty((n, len(venues), len(ALL_FEATURES)))
    x[:, :, : len(ORDER_FEATURES)] = rows[:, None, :]
    x[:, :, len(ORDER_FEATURES):] = stats[None, :, :]
    return x


def test_compiled_equals_xgboost() -> None:
    """Same float32 arithmetic as XGBoost: slippage bit for bit, p_fill within one float32 ulp (sigmoid)."""
    features, _ = make_days(date(2024, 3, 4), 3, 300, seed=3)
    model, _ = train_router(features, TrainConfig(n_estimators=60, max_depth=5))
    compiled, ref = CompiledScorer(model), ReferenceScorer(model)
    assert compiled.n_trees > 6
    x = _tensor(features, compiled.venues, 300)
    a, b = compiled.score(x), ref.score(x)
    for name in ("p_fill", "slippage_bps", "expected_cost_bps", "fallback_bps"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(a.slippage_bps, b.slippage_bps)
    assert (a.order == b.order).all(axis=1).mean() > 0.99  # ties within an ulp may swap

    # the order path without a C compiler (reference scorer, Python allocation) routes the same way
    fast = LiveRouter(model, static_waterfall=compiled.venues)
    slow = LiveRouter(model, static_waterfall=compiled.venues, scorer="xgboost")
    assert (fast.scorer_kind, slow.scorer_kind) == ("compiled", "xgboost")
    snap = MarketSnapshot("S1", 1_709_649_000 * 10**9 + 900 * 10**9, 20.0, 20.01, bid_sz=[900.0] * 5,
                          ask_sz=[700.0] * 5, rvol_5m_bps=20.0, adv=150_000.0, displayed={"LITA": 300.0})
    for qty in (100, 2_000, 9_000):
        o = Order("S1", "BUY", qty, "MKT", "IOC", None, "MEDIUM", snap.ts)
        r1, r2 = fast.route(o, snap), slow.route(o, snap)
        assert r1.ranked_venues == r2.ranked_venues and not r1.fallback and not r2.fallback
        assert [(x.venue, x.qty) for x in r1.allocations] == [(x.venue, x.qty) for x in r2.allocations]
        np.testing.assert_allclose(r1.expected_cost_bps, r2.expected_cost_bps, atol=1e-6)
    assert not a.bad.any()


def test_fast_path_matches_registered_pyfunc_and_load_policy(settings: Settings) -> None:
    policy = load_policy(settings)  # no champion yet: the static waterfall
    assert isinstance(policy, StaticWaterfall) and policy.name == "static"
    features, _ = make_days(date(2024, 3, 4), 3, 300, seed=5)
    model, _reports = train_router(features, TrainConfig(n_estimators=40))
    x = _tensor(features, list(model.venues), 40, seed=1)
    example = pyfunc_frame(x[:2], list(model.venues), model.feature_columns, ["e0", "e1"])
    with registry.parent_run(settings, "router-parity", {"t": "parity"}):
        uri = registry.log_router_model(model, pl.from_pandas(example))
    version = registry.register_model(settings, uri, {"gate_verdict": "pass"})
    registry.promote(settings, version)

    router = LiveRouter.from_registry(settings)
    assert router.ready and router.version == version and router.scorer_kind == "compiled"
    assert router.policy_name == f"model:{version}"
    pyfunc = load_pyfunc(registry.model_uri(settings))
    ids = [f"r{i}" for i in range(x.shape[0])]
    want = pl.from_pandas(pyfunc.predict(pyfunc_frame(x, router.venues, model.feature_columns, ids)))
    assert router.scorer is not None
    got = router.scorer.score(x)
    for name in ("p_fill", "slippage_bps", "expected_cost_bps"):
        ref = want[name].to_numpy().reshape(x.shape[0], len(router.venues))
        np.testing.assert_allclose(getattr(got, name), ref, rtol=0, atol=1e-6, err_msg=name)

    # and through the order path: route(order, snapshot) scores its own features like the pyfunc
    snap = MarketSnapshot("S1", 1_709_649_000 * 10**9 + 5_400 * 10**9, 49.99, 50.02, bid_sz=[300.0] * 5,
                          ask_sz=[200.0] * 5, rvol_5m_bps=8.0, adv=400_000.0,
                          venue_stats={v: [0.5, 1.0, -0.2, -0.4, 1.1] for v in router.venues})
    order = Order("S1", "SELL", 1_500, "LMT", "IOC", 49.97, "HIGH", snap.ts)
    route = router.route(order, snap)
    one = pl.from_pandas(pyfunc.predict(pyfunc_frame(router.features(order, snap)[None], router.venues,
                                                     model.feature_columns, ["o"])))
    by_venue = {v.venue: v for v in route.venues}
    for venue, cost, p in one.select("venue", "expected_cost_bps", "p_fill").iter_rows():
        assert by_venue[venue].expected_cost_bps == pytest.approx(cost, abs=1e-6)
        assert by_venue[venue].p_fill == pytest.approx(p, abs=1e-6)
    assert route.ranked_venues == one.sort("expected_cost_bps", maintain_order=True)["venue"].to_list()
    assert not route.fallback and route.allocated_qty == 1_500

    policy = load_policy(settings)  # the champion now
    assert isinstance(policy, ModelPolicy) and policy.name == f"model:{version}" and policy.router.ready
