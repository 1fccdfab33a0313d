"""Promotion gate: statistics on hand-made day series and on real walk-forward backtests."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.learning import RouterModel, train_router
from sor_pipeline.learning.backtest import walk_forward
from sor_pipeline.learning.gate import bootstrap_test, diebold_mariano, evaluate_gate
from tests.synthetic_features import make_days

START = date(2024, 3, 4)


def _days(static: list[float], ch: list[float], champ: list[float] | None) -> pl.DataFrame:
    n = len(ch)
    return pl.DataFrame({"date": [date(2024, 4, i + 1) for i in range(n)], "n_requests": [100] * n,
                         "cost_static": static, "cost_challenger": ch,
                         "cost_champion": champ if champ is not None else [None] * n},
                        schema_overrides={"cost_champion": pl.Float64})


EMPTY_VM = pl.DataFrame(schema={"model": pl.String, "venue": pl.String, "slippage_mae_bps": pl.Float64})


def test_tests_on_clear_and_null_series() -> None:
    rng = np.random.default_rng(0)
    better = -1.0 + 0.2 * rng.standard_normal(8)
    assert diebold_mariano(better, 0.0) < 0.001
    assert bootstrap_test(better, 0.0, 0.05, 2000, 1)[0] < 0.01
    assert diebold_mariano(np.zeros(8), 0.0) == 1.0
    assert diebold_mariano(better, 2.0) > 0.5  # margin bigger than the gain


def test_gate_first_run_needs_static_only() -> None:
    s = Settings()
    v = evaluate_gate(_days([5.0, 5.2, 5.1, 5.3, 5.0], [3.5, 3.6, 3.4, 3.7, 3.5], None), EMPTY_VM, s)
    assert v.passed and v.baseline == "static" and v.vs_champion is None and v.p_value < s.gate.alpha
    assert v.cost_diff_bps < -1.0
    v2 = evaluate_gate(_days([5.0, 5.2, 5.1, 5.3, 5.0], [3.5, 3.6, 3.4, 3.7, 3.5], None), EMPTY_VM, s,
                       data_checks_ok=False)
    assert not v2.passed and "data checks failed" in v2.reasons


def test_gate_venue_mae_guard() -> None:
    s = Settings()
    vm = pl.DataFrame({"model": ["challenger", "champion"] * 2, "venue": ["A", "A", "B", "B"],
                       "slippage_mae_bps": [1.0, 1.0, 3.0, 1.5]})
    v = evaluate_gate(_days([6.0] * 5, [3.5, 3.6, 3.4, 3.7, 3.5], [4.5, 4.6, 4.4, 4.7, 4.6]), vm, s)
    assert not v.passed and any("B 2.00x" in r for r in v.reasons)


@pytest.fixture(scope="module")
def world() -> dict[str, object]:
    features, oracle = make_days(START, 11, 500, seed=11)
    settings = Settings(train_window_days=6, backtest_folds=4, embargo_days=1, gate_bootstrap_samples=1000)
    good = train_router(features.filter(pl.col("date") <= date(2024, 3, 12)))[0]
    return {"features": features, "oracle": oracle, "settings": settings, "good": good}


def _shuffled_train(frame: pl.DataFrame) -> RouterModel:
    rng = np.random.default_rng(5)
    perm = rng.permutation(frame.height)
    labels = ["filled", "fill_ratio", "arrival_slippage_bps"]
    shuffled = frame.with_columns([pl.Series(c, frame[c].to_numpy(allow_copy=True)[perm]) for c in labels])
    return train_router(shuffled)[0]


def test_gate_rejects_shuffled_labels(world: dict) -> None:
    res = walk_forward(world["features"], world["settings"], champion=world["good"], oracle=world["oracle"],
                       train_fn=_shuffled_train)
    v = evaluate_gate(res.days, res.venue_metrics, world["settings"])
    print(f"shuffled: diff {v.cost_diff_bps:+.3f} bps p {v.p_value:.4f}")
    assert not v.passed and v.baseline == "champion" and v.cost_diff_bps > 0


def test_gate_rejects_identical_to_champion(world: dict) -> None:
    res = walk_forward(world["features"], world["settings"], champion=world["good"], oracle=world["oracle"],
                       train_fn=lambda frame: world["good"])
    v = evaluate_gate(res.days, res.venue_metrics, world["settings"])
    print(f"identical: diff {v.cost_diff_bps:+.3f} bps p {v.p_value:.4f}")
    assert not v.passed and v.cost_diff_bps == 0.0 and v.p_value >= 0.5


def test_gate_accepts_clearly_better(world: dict) -> None:
    weak = _shuffled_train(world["features"].filter(pl.col("date") <= date(2024, 3, 12)))
    res = walk_forward(world["features"], world["settings"], champion=weak, oracle=world["oracle"])
    v = evaluate_gate(res.days, res.venue_metrics, world["settings"])
    print(f"better: diff {v.cost_diff_bps:+.3f} bps p {v.p_value:.4g} vs static p {v.vs_static.p_value:.4g}")
    assert v.passed, v.reasons
    assert v.cost_diff_bps < -0.5 and v.p_value < world["settings"].gate.alpha
