"""The live router's exploration: reported propensities are the real frequencies of its choices, and
scenario files drive the simulator's regimes as written."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sor_pipeline.config.exploration import ExplorationParams
from sor_pipeline.serving import LiveRouter
from sor_pipeline.serving.exploration import rank1_probabilities
from sor_pipeline.simulation.config import Regime
from sor_pipeline.simulation.scenarios import ScenarioError, load_scenario
from tests.unit.test_router import STATIC, hand_model, order, snapshot

SCENARIOS = Path(__file__).resolve().parents[2] / "data_samples" / "scenarios"


def test_reported_propensities_match_the_frequencies_of_choices() -> None:
    params = ExplorationParams(temperature_bps=1.0, floor=0.02, static_epsilon=0.1)
    router = LiveRouter(hand_model(), static_waterfall=STATIC, version="7", exploration=params, seed=3)
    n = 6000
    firsts: Counter[str] = Counter()
    reported: dict[str, float] = {}
    for _ in range(n):
        r = router.route(order(), snapshot())
        first = r.ranked_venues[0]
        firsts[first] += 1
        reported[first] = r.propensity
        assert r.explored == (first != "ECNM") and r.allocations[0].venue == first
        assert sum(a.qty for a in r.allocations) == 100
    assert abs(sum(reported.values()) - 1.0) < 1e-9  # every venue was drawn; probabilities sum to one
    for venue, p in reported.items():
        se = np.sqrt(p * (1 - p) / n)
        assert abs(firsts[venue] / n - p) < 4 * se + 1e-9, (venue, firsts[venue] / n, p)
    assert max(reported, key=reported.__getitem__) == "ECNM"
    assert reported["DRK2"] == pytest.approx(0.02, abs=0.005)  # the toxic pool gets the floor


def test_exploration_off_gives_propensity_one() -> None:
    router = LiveRouter(hand_model(), static_waterfall=STATIC, version="7")
    routes = [router.route(order(), snapshot()) for _ in range(50)]
    assert all(r.propensity == 1.0 and not r.explored and r.ranked_venues[0] == "ECNM" for r in routes)


def test_static_rows_keep_their_first_venue_with_one_minus_epsilon() -> None:
    p = rank1_probabilities(np.full((1, 4), np.nan), np.array([2]), np.ones((1, 4), bool),
                            ExplorationParams(static_epsilon=0.2))
    assert p[0].tolist() == pytest.approx([0.05, 0.05, 0.85, 0.05])


def test_shipped_scenarios_load_as_written() -> None:
    toxic = load_scenario(SCENARIOS / "toxic-pool.toml")
    assert toxic.name == "toxic-pool" and toxic.regimes == [Regime("toxic", start_day=9, factor=8.0, venue="DRK2")]
    two = load_scenario(SCENARIOS / "two-shifts.toml")
    assert two.shift_days() == [8, 13] and two.regimes[1] == Regime("fill_rate", 13, 0.4, "ECNI")
    assert load_scenario(SCENARIOS / "quiet.toml").regimes == []
    assert {p.stem for p in SCENARIOS.glob("*.toml")} >= {"toxic-pool", "fill-drop", "vol-up", "two-shifts", "quiet"}


@pytest.mark.parametrize(("text", "field"), [
    ('[[regimes]]\nkind = "toxic"\nstart_day = 9\nfactor = 8.0\n', "regimes[0]: missing field 'venue'"),
    ('[[regimes]]\nkind = "melt"\nstart_day = 9\nfactor = 2.0\n', "regimes[0].kind"),
    ('[[regimes]]\nkind = "volatility"\nstart_day = "9"\nfactor = 2.0\n', "regimes[0].start_day"),
    ('[[regimes]]\nkind = "toxic"\nvenue = "NOPE"\nstart_day = 1\nfactor = 2.0\n', "regimes[0].venue"),
    ('name = "x"\n', "missing field 'regimes'"),
    ('regimes = []\nsymbolz = 3\n', "unknown field(s) ['symbolz']"),
])
def test_malformed_scenario_is_refused_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_static_share_goes_to_the_static_waterfalls_first_available_venue() -> None:
    costs = np.array([[3.0, 1.0, 2.0, 9.0], [3.0, 1.0, 2.0, 9.0]])
    avail = np.array([[True, True, True, True], [False, True, True, True]])
    params = ExplorationParams(temperature_bps=0.5, floor=0.0, static_share=0.1)
    base = rank1_probabilities(costs, np.array([1, 1]), avail, params)
    p = rank1_probabilities(costs, np.array([1, 1]), avail, params, np.array([0, 2]))
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert p[0] == pytest.approx(0.9 * base[0] + np.array([0.1, 0, 0, 0]))  # venue 0 is static's first
    assert p[1] == pytest.approx(0.9 * base[1] + np.array([0, 0, 0.1, 0]))  # venue 0 unavailable: the next
    assert p[0, 0] >= 0.1 and p[1, 0] == 0.0


def test_live_router_logs_static_choice_at_least_its_share() -> None:
    params = ExplorationParams(temperature_bps=0.5, floor=0.0, static_epsilon=0.1, static_share=0.2)
    router = LiveRouter(hand_model(), static_waterfall=STATIC, version="7", exploration=params, seed=5)
    n = 4000
    routes = [router.route(order(), snapshot()) for _ in range(n)]
    first = STATIC[0]
    hits = [r for r in routes if r.ranked_venues[0] == first]
    p = hits[0].propensity
    assert p >= 0.2 and abs(len(hits) / n - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_scout_mode_routes_static_and_explores_where_the_scout_would() -> None:
    """No champion, a registered challenger as scout: the static waterfall's first venue keeps 1 - epsilon
    of the draws, the rest follows the scout's softmax (its cheapest venue, ECNM, most); propensities
    are the frequencies; what routed is 'static'."""
    params = ExplorationParams(temperature_bps=0.5, floor=0.0, static_epsilon=0.3, static_share=0.1)
    router = LiveRouter(hand_model(), static_waterfall=STATIC, version="9", exploration=params, seed=11, scout=True)
    n = 4000
    routes = [router.route(order(), snapshot()) for _ in range(n)]
    firsts = Counter(r.ranked_venues[0] for r in routes)
    assert all(r.policy.startswith("static") for r in routes)
    assert all(r.ranked_venues[1:] == [v for v in STATIC if v != r.ranked_venues[0]] for r in routes)
    reported = {r.ranked_venues[0]: r.propensity for r in routes}
    assert reported[STATIC[0]] >= 0.7
    for venue, p in reported.items():
        assert abs(firsts[venue] / n - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9, (venue, firsts[venue] / n, p)
    others = {v: c for v, c in firsts.items() if v != STATIC[0]}
    assert max(others, key=others.__getitem__) == "ECNM"


def test_a_scenarios_venues_are_drawn_from_a_venue_reference(tmp_path: Path) -> None:
    venue = '[[venues]]\ncode = "{code}"\nvenue_type = "{kind}"\nmaker_fee_bps = 0.0\ntaker_fee_bps = 0.3\n'
    lit = venue.format(code="LITA", kind="LIT")
    ok = tmp_path / "ok.toml"
    ok.write_text("regimes = []\n" + lit + venue.format(code="DRK1", kind="DARK"))
    assert [v.code for v in load_scenario(ok).venues or []] == ["LITA", "DRK1"]
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("regimes = []\n" + lit + venue.format(code="XNEW", kind="DARK"))
    with pytest.raises(ScenarioError, match=r"venues\[1\]\.code: 'XNEW' is not in the venue reference"):
        load_scenario(unknown)
    kind = tmp_path / "kind.toml"
    kind.write_text("regimes = []\n" + venue.format(code="LITA", kind="DARK"))
    with pytest.raises(ScenarioError, match=r"venues\[0\]\.venue_type: 'DARK' but the venue reference"):
        load_scenario(kind)
    (tmp_path / "desk_venues.csv").write_text(
        "venue,mic,name,venue_type,maker_fee_bps,taker_fee_bps,active_from,active_to\n"
        "XNEW,XNEW,A new pool,DARK,0.1,0.1,2020-01-01,\nLITA,XLTA,Lit A,LIT,-0.1,0.3,2020-01-01,\n")
    own = tmp_path / "own.toml"
    own.write_text('venue_reference = "desk_venues.csv"\nregimes = []\n' + lit + venue.format(code="XNEW", kind="DARK"))
    assert [v.code for v in load_scenario(own).venues or []] == ["LITA", "XNEW"]
