import polars as pl

from sor_pipeline.simulation.demo_metrics import captured_gap_share, day_costs


def test_day_costs_exclude_exploration_and_sign() -> None:
    children = pl.DataFrame({"child_id": ["a", "b", "c"], "route_rank": [1, 1, 1], "venue": ["X", "Y", "X"],
                             "router_policy": ["model:1", "model:1", "model:1/explore"]})
    oracle = pl.DataFrame({"child_id": ["a", "a", "b", "b", "c", "c"], "venue": ["X", "Y"] * 3,
                           "expected_cost_bps": [5.0, 1.0, 4.0, 2.0, 9.0, 9.0]})
    c = day_costs(children, oracle, ["X", "Y"])
    assert c == {"static": 4.5, "ml": 3.5, "oracle": 1.5, "decisions": 2}


def test_gap_share() -> None:
    days = [{"static": 5.0, "ml": 5.0, "oracle": 3.0, "decisions": 10, "router_policy": "static"},
            {"static": 5.0, "ml": 3.0, "oracle": 3.0, "decisions": 10, "router_policy": "model:1"}]
    assert captured_gap_share(days) == 0.5
    assert captured_gap_share(days, model_days_only=True) == 1.0
    assert captured_gap_share([{"static": 1.0, "ml": 1.0, "oracle": 1.0}]) is None
