"""The router's intraday venue guard (sor_pipeline.serving.guard): what it charges, and that every router
path (one order, batch, columnar, reference scorer) and the simulator's logging router price it alike."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sor_pipeline.config.guard import GuardParams
from sor_pipeline.config.settings import Settings
from sor_pipeline.features.labels import signed_slippage_bps
from sor_pipeline.serving import LiveRouter
from sor_pipeline.serving.columnar import OrderColumns, SnapshotColumns
from sor_pipeline.serving.guard import VenueGuard
from sor_pipeline.simulation import SimConfig, simulate_day
from sor_pipeline.simulation.config import Regime
from sor_pipeline.simulation.model_policy import ModelPolicy
from tests.unit.test_router import STATIC, hand_model, order, snapshot

VENUES = ["DRK1", "DRK2", "ECNM"]


def test_realized_slippage_sign_is_cost_positive_on_both_sides_fees_included() -> None:
    got = signed_slippage_bps(np.array([1.0, -1.0]), np.array([100.02, 99.98]), np.array([100.0, 100.0]),
                                np.array([0.3, 0.3]))
    assert got == pytest.approx([2.3, 2.3])  # paid up on a buy, sold down on a sell: both + = cost


def test_no_charge_before_min_fills_then_the_lower_bound_times_the_fill_rate() -> None:
    g = VenueGuard(VENUES, GuardParams(min_fills=8, z=3.0))
    rng = np.random.default_rng(1)
    excess = 12.0 + rng.normal(0.0, 2.0, 7)
    g.observe(["DRK2"] * 7, np.ones(7, bool), excess)
    assert g.penalties() == {}  # 7 fills < 8
    g.observe(["DRK2"] * 3, np.array([True, False, False]), np.array([12.0, np.nan, np.nan]))
    e = np.r_[excess, 12.0]
    bound = e.mean() - 3.0 * e.std(ddof=1) / np.sqrt(8)
    assert g.penalties() == pytest.approx({"DRK2": (8 / 10) * bound})  # 8 of 10 children filled
    assert g.penalty_bps()[[0, 2]].tolist() == [0.0, 0.0]
    g.reset()
    assert g.penalties() == {} and g.sent.sum() == 0


def test_never_charges_a_venue_cheaper_than_predicted_and_seldom_charges_noise() -> None:
    g = VenueGuard(VENUES)
    g.observe(["ECNM"] * 50, np.ones(50, bool), np.full(50, -4.0))
    assert g.penalties() == {}  # one-sided: the guard protects, the nightly retrain learns
    charged = 0
    for seed in range(200):
        g.reset()
        rng = np.random.default_rng(seed)
        g.observe(["DRK1"] * 100, np.ones(100, bool), rng.standard_t(3, 100) * 2.0)  # heavy-tailed, mean 0
        charged += bool(g.penalties())
    assert charged <= 6  # z = 3 one-sided: ~0.1 % nominal, heavy tails allowed for


def test_disabled_guard_and_unknown_venues_charge_nothing() -> None:
    g = VenueGuard(VENUES, GuardParams(enabled=False))
    g.observe(["DRK2"] * 20, np.ones(20, bool), np.full(20, 20.0))
    assert g.penalties() == {}
    g = VenueGuard(VENUES)
    g.observe(["XXXX"] * 20, np.ones(20, bool), np.full(20, 20.0))
    assert g.penalties() == {} and g.sent.sum() == 0


@pytest.mark.parametrize("scorer", ["compiled", "xgboost"])
def test_a_charged_venue_is_priced_up_and_loses_rank_one_on_every_router_path(scorer: str) -> None:
    router = LiveRouter(hand_model(), static_waterfall=STATIC, version="7", scorer=scorer, guard=GuardParams())
    before = router.route(order(), snapshot())
    top = before.ranked_venues[0]
    assert top == "ECNM"
    by = {v.venue: v.expected_cost_bps for v in before.venues}
    charges = router.observe([top] * 10, np.ones(10, bool), np.full(10, 5.0) + np.linspace(-0.1, 0.1, 10))
    assert set(charges) == {top} and charges[top] > 4.5  # lower bound of ~5 bps at a 100 % fill rate
    after = router.route(order(), snapshot())
    assert after.ranked_venues[0] != top
    assert {v.venue: v.expected_cost_bps for v in after.venues}[top] == pytest.approx(by[top] + charges[top])
    batch = router.route_batch([order()] * 3, [snapshot()] * 3)
    assert all(r.ranked_venues == after.ranked_venues for r in batch)
    cols = router.route_columns(OrderColumns.from_orders([order()]),
                                SnapshotColumns.from_snapshots([snapshot()], router.venues, router.column_venues))
    assert cols.rank1() == [after.ranked_venues[0]]
    router.new_day()
    assert router.route(order(), snapshot()).ranked_venues == before.ranked_venues


def test_observe_fill_charges_the_rank_one_venue_from_its_fill_price() -> None:
    router = LiveRouter(hand_model(), static_waterfall=STATIC, version="7", guard=GuardParams(min_fills=4))
    route = router.route(order(), snapshot())
    top = route.ranked_venues[0]
    predicted = route.slippage_bps[0]
    for _ in range(3):  # bought at +8 bps over a 100.00 mid and 0.2 bps of fee: +8.2 bps realised
        router.observe_fill(route, 100.08, 100.0, 0.2)
    assert router.guard.penalties() == {}
    charges = router.observe_fill(route, 100.08 + 1e-6, 100.0, 0.2)
    assert charges[top] == pytest.approx(8.2 - predicted, abs=0.01)  # tiny spread: the bound ~ the mean
    router.observe_fill(route, None, 100.0)  # an unfilled child lowers the venue's fill rate
    assert router.guard.penalties()[top] == pytest.approx(0.8 * charges[top], abs=0.01)
    static = LiveRouter(None, static_waterfall=STATIC, guard=GuardParams(min_fills=2))
    s_route = static.route(order(), snapshot())
    for _ in range(5):
        static.observe_fill(s_route, 101.0, 100.0)
    assert static.guard.penalties() == {}  # the static waterfall's routes teach the guard nothing


def test_guard_is_off_unless_asked_and_on_from_settings(settings: Settings) -> None:
    assert LiveRouter(hand_model(), static_waterfall=STATIC).guard.params.enabled is False
    assert settings.router.guard_params().enabled is True
    assert Settings(router={"guard": False}).router.guard_params().enabled is False  # type: ignore[arg-type]


def test_the_simulated_router_stops_routing_to_a_pool_that_turns_toxic_within_the_day(settings: Settings) -> None:
    """A model that still believes DRK1 is the cheapest pool, on the day DRK1 turns toxic: the guard learns it
    from the first buckets' fills and the rest of the day routes elsewhere; without the guard it never does."""
    model = hand_model({"DRK1": ("DARK", 0.9, -2.0)})
    cfg = SimConfig(seed=5, n_symbols=3, quote_updates_per_symbol=600, parent_orders_per_symbol=60,
                    trades_per_symbol=100, explore=False,
                    regimes=[Regime(kind="toxic", venue="DRK1", factor=8.0, start_day=0)])

    def drk1_share(guard: bool) -> tuple[float, float, dict[str, float]]:
        router = LiveRouter(model, static_waterfall=STATIC, version="1", guard=GuardParams(enabled=guard))
        policy = ModelPolicy(router, settings)
        day = simulate_day(cfg, date(2024, 3, 5), 0, policy=policy)
        r1 = day.tables["child_orders"].filter(pl.col("route_rank") == 1).sort("sent_ts")
        half = r1.height // 2
        share = [float((part["venue"] == "DRK1").mean()) for part in (r1.head(half), r1.tail(r1.height - half))]
        return share[0], share[1], router.guard.penalties()

    early, late, charges = drk1_share(True)
    assert "DRK1" in charges and late < 0.5 * early
    early_off, late_off, charges_off = drk1_share(False)
    assert charges_off == {} and late_off > 0.8 * early_off


def _toxic(g: VenueGuard, n: int = 40, excess_bps: float = 10.0, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    g.observe(["DRK2"] * n, np.ones(n, bool), excess_bps + rng.normal(0.0, 1.0, n))


def test_a_venue_charged_yesterday_starts_today_charged_for_carry_days_then_not() -> None:
    g = VenueGuard(VENUES, GuardParams(carry_days=2))
    g.start_day(date(2024, 3, 14))
    _toxic(g, n=10)  # the guard soon stops routing there: a toxic day leaves a handful of fills
    yesterday = g.penalties()["DRK2"]
    g.start_day(date(2024, 3, 15))  # the same version routes again
    assert g.penalties()["DRK2"] == pytest.approx(yesterday)  # the window today + yesterday
    g.observe(["ECNM"] * 5, np.ones(5, bool), np.zeros(5))  # it routes elsewhere
    g.start_day(date(2024, 3, 18))
    assert g.penalties()["DRK2"] == pytest.approx(yesterday)  # today + the two days before
    g.observe(["ECNM"] * 5, np.ones(5, bool), np.zeros(5))
    g.start_day(date(2024, 3, 19))
    assert g.penalties() == {}  # the toxic day is three days back now
    blank = VenueGuard(VENUES, GuardParams(carry_days=0))
    blank.start_day(date(2024, 3, 14))
    _toxic(blank)
    blank.start_day(date(2024, 3, 15))
    assert blank.penalties() == {} and blank.sent.sum() == 0  # 0: every morning starts blank


def test_todays_fills_at_the_venue_confirm_or_dilute_the_carried_charge() -> None:
    g = VenueGuard(VENUES, GuardParams(carry_days=1))
    g.start_day(date(2024, 3, 14))
    _toxic(g, n=10)
    g.start_day(date(2024, 3, 15))
    carried = g.penalties()["DRK2"]
    g.observe(["DRK2"] * 60, np.ones(60, bool), np.random.default_rng(4).normal(0.0, 1.0, 60))  # back to normal
    assert g.penalties().get("DRK2", 0.0) < 0.5 * carried


def test_another_session_of_the_same_day_starts_from_the_morning_not_from_an_earlier_session() -> None:
    """The simulator routes a day one symbol group after another: group 2 must not know group 1's afternoon."""
    g = VenueGuard(VENUES, GuardParams(carry_days=2))
    g.start_day(date(2024, 3, 15))
    _toxic(g)
    assert "DRK2" in g.penalties()
    g.start_day(date(2024, 3, 15))
    assert g.penalties() == {}
    _toxic(g, seed=5)
    g.start_day(date(2024, 3, 18))  # the next day carries both groups' fills
    assert g.filled[1] == pytest.approx(80.0)


def test_the_router_checkpoints_its_guard_and_only_the_same_version_reads_it_back(tmp_path: Path) -> None:
    path = tmp_path / "router" / "guard_state.json"
    two = GuardParams(carry_days=2)
    router = LiveRouter(hand_model(), static_waterfall=STATIC, version="7", guard=two, guard_state=path)
    router.new_day(date(2024, 3, 14))
    top = router.route(order(), snapshot()).ranked_venues[0]
    router.observe([top] * 40, np.ones(40, bool), np.full(40, 5.0) + np.linspace(-0.5, 0.5, 40))
    router.end_day()
    assert json.loads(path.read_text())["version"] == "7"
    same = LiveRouter(hand_model(), static_waterfall=STATIC, version="7", guard=two, guard_state=path)
    same.new_day(date(2024, 3, 15))
    assert top in same.guard.penalties() and same.route(order(), snapshot()).ranked_venues[0] != top
    other = LiveRouter(hand_model(), static_waterfall=STATIC, version="8", guard=two, guard_state=path)
    other.new_day(date(2024, 3, 15))
    assert other.guard.penalties() == {} and other.route(order(), snapshot()).ranked_venues[0] == top
    path.write_text("{not json")
    damaged = LiveRouter(hand_model(), static_waterfall=STATIC, version="7", guard=two, guard_state=path)
    damaged.new_day(date(2024, 3, 15))
    assert damaged.guard.penalties() == {} and damaged.ready  # a damaged checkpoint never takes routing down


def test_clean_days_carried_never_hide_a_toxic_day_nor_slow_the_reaction_to_one() -> None:
    carried, fresh = VenueGuard(VENUES, GuardParams(carry_days=2)), VenueGuard(VENUES, GuardParams(carry_days=0))
    for g in (carried, fresh):
        for d in (12, 13):
            g.start_day(date(2024, 3, d))
            g.observe(["DRK2"] * 200, np.ones(200, bool), np.random.default_rng(d).normal(0.0, 1.0, 200))
        g.start_day(date(2024, 3, 14))
        _toxic(g, n=8)
    assert carried.filled[1] > 300  # the clean days are carried ...
    assert carried.penalties()["DRK2"] == pytest.approx(fresh.penalties()["DRK2"])  # ... and change nothing
    carried.start_day(date(2024, 3, 15))
    assert "DRK2" in carried.penalties()  # the next morning the toxic day's window still charges
