import polars as pl

from sor_pipeline.simulation.demo_metrics import captured_gap_share, day_costs, nights_to_recover


def test_day_costs_count_exploration_and_sign() -> None:
    children = pl.DataFrame({"child_id": ["a", "b", "c"], "route_rank": [1, 1, 1], "venue": ["X", "Y", "X"],
                             "router_policy": ["model:1", "model:1", "model:1/explore"]})
    oracle = pl.DataFrame({"child_id": ["a", "a", "b", "b", "c", "c"], "venue": ["X", "Y"] * 3,
                           "expected_cost_bps": [5.0, 1.0, 4.0, 2.0, 9.0, 9.0]})
    c = day_costs(children, oracle, ["X", "Y"])  # every decision counts: exploration is a real cost
    assert c == {"static": 6.0, "ml": 16.0 / 3, "oracle": 4.0, "decisions": 3}


def test_nights_to_recover() -> None:
    day = [{"static": 5.0, "ml": m} for m in (4.0, 4.0, 6.0, 5.5, 5.05, 4.9, 6.0, 5.0, 4.0)]
    # shifts on day 2 (recovered from day 4: 5.05 <= 5.1) and day 6 (from day 7)
    assert nights_to_recover(day, [2, 6]) == [2, 1]
    assert nights_to_recover([{"static": 5.0, "ml": 6.0}] * 3, [0]) == [None]


def test_gap_share() -> None:
    days = [{"static": 5.0, "ml": 5.0, "oracle": 3.0, "decisions": 10, "router_policy": "static"},
            {"static": 5.0, "ml": 3.0, "oracle": 3.0, "decisions": 10, "router_policy": "model:1"}]
    assert captured_gap_share(days) == 0.5
    assert captured_gap_share(days, model_days_only=True) == 1.0
    assert captured_gap_share([{"static": 1.0, "ml": 1.0, "oracle": 1.0}]) is None
