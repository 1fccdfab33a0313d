"""Live router: hand-built rankings and allocations, and the static-waterfall fallback (never raises)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.features.online import TimeOfDay, order_features_batch
from sor_pipeline.learning.router_model import RouterModel, VenueModel
from sor_pipeline.serving import AllocationConfig, LiveRouter, MarketSnapshot, Order, allocate
from sor_pipeline.serving.allocation import venue_caps

T0 = 1_709_649_000 * 1_000_000_000 + 3_600 * 1_000_000_000  # 2024-03-05 15:30 UTC = 10:30 New York
STATIC = ["DRK1", "DRK2", "ECNM", "ECNI", "LITA", "LITB"]
# venue -> (type, p_fill, slippage bps given a fill); fallback = min LIT slippage = 2.5 bps
HAND = {"DRK1": ("DARK", 0.4, 0.5), "DRK2": ("DARK", 0.8, 9.0), "ECNM": ("ECN", 0.9, 1.5),
        "ECNI": ("ECN", 0.6, 2.0), "LITA": ("LIT", 0.97, 3.0), "LITB": ("LIT", 0.97, 2.5)}


def hand_model(override: dict[str, tuple[str, float, float]] | None = None) -> RouterModel:
    spec = {**HAND, **(override or {})}
    return RouterModel({v: VenueModel(v, t, fill_const=p, slippage_const_bps=s) for v, (t, p, s) in spec.items()})


def snapshot(**kw: object) -> MarketSnapshot:
    base: dict[str, object] = dict(symbol="AAA", ts=T0, bid_px=99.99, ask_px=100.01, bid_sz=[500.0] * 5,
                                   ask_sz=[400.0] * 5, rvol_5m_bps=12.0, adv=1_000_000.0,
                                   displayed={"ECNM": 500.0, "ECNI": 300.0, "LITA": 800.0, "LITB": 600.0})
    base.update(kw)
    return MarketSnapshot(**base)  # type: ignore[arg-type]


def order(qty: int = 100, **kw: object) -> Order:
    return Order(symbol="AAA", side=str(kw.get("side", "BUY")), qty=qty, ts=T0)


def test_toxic_pool_ranked_last_with_expected_costs() -> None:
    router = LiveRouter(hand_model(), static_waterfall=STATIC, version="7")
    route = router.route(order(), snapshot())
    assert not route.fallback and route.policy == "model:7"
    assert route.ranked_venues == ["ECNM", "DRK1", "ECNI", "LITB", "LITA", "DRK2"]  # toxic DRK2 last
    assert [v.rank for v in route.venues] == [1, 2, 3, 4, 5, 6]
    assert route.fallback_bps == pytest.approx(2.5)
    by = {v.venue: v for v in route.venues}
    assert by["DRK2"].expected_cost_bps == pytest.approx(0.8 * 9.0 + 0.2 * 2.5)  # p*s + (1-p)*fallback
    assert by["ECNM"].p_fill == pytest.approx(0.9) and by["ECNM"].slippage_bps == pytest.approx(1.5)
    # a small order goes whole to the cheapest venue
    assert [(a.venue, a.qty, a.seq) for a in route.allocations] == [("ECNM", 100, 1)]
    assert router.stats.routes == 1 and router.stats.fallbacks == 0


def test_large_order_split_across_venues_capped_remainder_to_cheapest_lit() -> None:
    router = LiveRouter(hand_model(), static_waterfall=STATIC, version="7")
    route = router.route(order(5_000), snapshot())
    legs = {a.venue: a for a in route.allocations}
    assert route.allocated_qty == 5_000
    assert len(legs) >= 3
    assert [a.seq for a in route.allocations] == list(range(1, len(legs) + 1))
    ranks = {v.venue: v.rank for v in route.venues}
    assert [ranks[a.venue] for a in route.allocations] == sorted(ranks[a.venue] for a in route.allocations)
    assert legs["ECNM"].qty <= 500 and legs["ECNI"].qty <= 300  # displayed caps
    assert legs["DRK1"].qty > legs["ECNM"].qty  # dark pool: ADV cap only, most expected fillable size
    assert legs["LITB"].reason in ("split+remainder", "remainder")  # cheapest lit takes the remainder
    assert "DRK2" not in legs


def test_allocate_adv_cap_and_lots() -> None:
    cfg = AllocationConfig(max_venues=2, max_adv_share=0.001, lot=100)
    legs = allocate(2_550, ["D", "E", "L"], [False, False, True], [0.5, 1.0, 1.0], [1.0, 2.0, 3.0],
                    [1_000.0, 1_000.0, 1_000.0], cfg)
    assert sum(a.qty for a in legs) == 2_550
    assert {a.venue: a.qty for a in legs}["D"] % 100 == 0
    assert legs[-1].venue == "L" and legs[-1].reason == "remainder"


def test_no_model_serves_static_waterfall(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        router = LiveRouter.from_registry(settings)  # empty registry: no champion
        route = router.route(order(300), snapshot())
    assert not router.ready and router.stats.load_failures == 1
    assert route.fallback and route.policy == "static" and route.ranked_venues == settings.router.static_waterfall
    assert route.allocated_qty == 300 and all(math.isnan(v.expected_cost_bps) for v in route.venues)
    assert router.stats.fallbacks == 1
    assert any("static" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    pinned = LiveRouter.from_registry(settings, version="99")  # a version that does not exist
    assert not pinned.ready and "load failed" in (pinned.load_error or "")
    assert pinned.route(order(), snapshot()).fallback and pinned.stats.fallbacks == 1


def test_nan_model_falls_back_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    router = LiveRouter(hand_model({"ECNI": ("ECN", 0.6, float("nan"))}), static_waterfall=STATIC, version="3")
    assert router.ready
    with caplog.at_level(logging.WARNING):
        routes = [router.route(order(), snapshot()) for _ in range(3)]
    assert all(r.fallback and r.ranked_venues == STATIC and r.reason == "non-finite score" for r in routes)
    assert router.stats.fallbacks == 3 and router.stats.nonfinite == 3
    assert any("non-finite" in r.getMessage() for r in caplog.records)
    batch = router.route_batch([order()] * 4, [snapshot()] * 4)
    assert all(r.fallback for r in batch) and router.stats.fallbacks == 7


def test_garbage_input_never_raises() -> None:
    router = LiveRouter(hand_model(), static_waterfall=STATIC)
    bad = Order(symbol="AAA", side="BUY", qty=100, ts="not a time")  # type: ignore[arg-type]
    route = router.route(bad, snapshot())
    assert route.fallback and router.stats.errors == 1
    empty = router.route(order(), snapshot(bid_px=float("nan"), ask_px=float("nan"), bid_sz=None, ask_sz=None,
                                           adv=None, displayed=None))
    assert not empty.fallback and empty.allocated_qty == 100  # missing market data = missing features


def test_batch_equals_one_by_one() -> None:
    """route_batch (vectorised features, blocked kernel) gives exactly what route gives per order."""
    rng = np.random.default_rng(1)
    router = LiveRouter(hand_model(), static_waterfall=STATIC)
    stats = {"DRK1": [0.4, 1.0, -0.5, -1.0, 0.6], "LITA": [0.9, 0.1, 0.2, None, 2.5]}
    orders, snaps = [], []
    for i in range(60):
        lmt = i % 3 == 0
        orders.append(Order("AAA", "SELL" if i % 2 else "BUY", int(rng.integers(1, 300)) * 100, "LMT" if lmt else "MKT",
                            "DAY" if i % 5 == 0 else "IOC", 100.02 if lmt else None, ["LOW", "HIGH", "??"][i % 3],
                            T0 + int(rng.integers(-3_600, 30_000)) * 10**9))
        snaps.append(snapshot(adv=[1e6, None, 0.0, 3e7][i % 4], bid_sz=None if i % 7 == 0 else [100.0 * i] * 5,
                              rvol_5m_bps=None if i % 6 == 0 else float(i), venue_stats=stats if i % 2 else None,
                              displayed=None if i % 4 == 0 else {"LITB": 100.0 * (i % 9)}))
    one = [router.route(o, s) for o, s in zip(orders, snaps, strict=True)]
    many = router.route_batch(orders, snaps)
    for a, b in zip(one, many, strict=True):
        assert (a.ranked_venues, a.p_fill, a.slippage_bps, a.expected_cost_bps, a.fallback_bps) == (
            b.ranked_venues, b.p_fill, b.slippage_bps, b.expected_cost_bps, b.fallback_bps)
        assert a.allocations == b.allocations
    x_one = np.stack([router.features(o, s)[0, :11] for o, s in zip(orders, snaps, strict=True)])
    x_many = order_features_batch(orders, snaps, TimeOfDay())
    np.testing.assert_array_equal(x_one, x_many)


def test_compiled_waterfall_equals_python_allocate() -> None:
    """The C kernel's allocation is the same algorithm as allocation.allocate (random cases)."""
    rng = np.random.default_rng(0)
    cfg = AllocationConfig(max_venues=3, max_adv_share=0.005, lot=100)
    spec = {v: (t, float(rng.uniform(0.05, 1.0)), float(rng.normal(2.0, 2.0))) for v, (t, _p, _s) in HAND.items()}
    router = LiveRouter(hand_model(spec), static_waterfall=STATIC, allocation=cfg)
    assert router.scorer_kind == "compiled"
    for _ in range(200):
        disp = {v: float(rng.integers(0, 30) * 100) for v in STATIC if rng.random() < 0.6}
        snap = snapshot(adv=float(rng.choice([0.0, 5e4, 1e6, 2e7])), displayed=disp or None)
        o = order(int(rng.integers(1, 400) * 100))
        route = router.route(o, snap)
        caps = venue_caps(route.ranked_venues, o.qty, snap.adv, snap.displayed, cfg)
        lit = [HAND[v][0] == "LIT" for v in route.ranked_venues]
        want = allocate(o.qty, route.ranked_venues, lit, route.p_fill, route.expected_cost_bps, caps, cfg)
        got = route.allocations
        assert [(a.venue, a.qty, a.seq, a.reason) for a in got] == [(a.venue, a.qty, a.seq, a.reason) for a in want]
        assert route.allocated_qty == o.qty
