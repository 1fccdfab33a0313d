"""Fold models are reused only when they would be fitted on identical rows with identical settings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from sor_pipeline.learning.fold_cache import FoldCache, frame_digest
from sor_pipeline.learning.router_model import RouterModel, VenueModel
from sor_pipeline.learning.train import SAMPLE_WEIGHT, TrainConfig, stratified_sample, train_router
from tests.synthetic_features import make_days


def _frame(days: list[str], bump: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    n = 20 * len(days)
    return pl.DataFrame({"date": np.repeat(days, 20), "x": rng.normal(size=n) + bump, "venue": ["A"] * n})


def _fit_counter(calls: list[int]):
    def fit(frame: pl.DataFrame) -> RouterModel:
        calls.append(frame.height)
        const = float(frame["x"].mean())
        return RouterModel({"A": VenueModel("A", "LIT", None, None, fill_const=1.0, slippage_const_bps=const)},
                           feature_columns=["x"])
    return fit


def test_same_rows_reuse_the_model_a_changed_day_or_setting_refits(tmp_path: Path) -> None:
    calls: list[int] = []
    fit = _fit_counter(calls)
    cache = FoldCache(tmp_path, "cfg-1")
    window = _frame(["2024-03-04", "2024-03-05"])
    first = cache.fit(window, fit)
    again = cache.fit(window.sample(fraction=1.0, shuffle=True, seed=3), fit)  # same rows, other order
    assert len(calls) == 1 and cache.hits == 1
    assert again.venues["A"].slippage_const_bps == first.venues["A"].slippage_const_bps
    changed = window.with_columns(pl.when(pl.col("date") == "2024-03-05").then(pl.col("x") + 1.0)
                                  .otherwise(pl.col("x")).alias("x"))
    cache.fit(changed, fit)  # one day's rows changed: refit
    cache.fit(_frame(["2024-03-05", "2024-03-06"]), fit)  # the window moved: refit
    FoldCache(tmp_path, "cfg-2").fit(window, fit)  # other booster settings: refit
    assert len(calls) == 4
    assert frame_digest(window) != frame_digest(changed)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_oldest_entries_are_pruned(tmp_path: Path) -> None:
    calls: list[int] = []
    cache = FoldCache(tmp_path, "cfg", max_entries=2)
    for d in ("2024-03-04", "2024-03-05", "2024-03-06"):
        cache.fit(_frame([d]), _fit_counter(calls))
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_stratified_sampling_caps_strata_and_keeps_their_weight() -> None:
    features, _ = make_days(date(2024, 3, 4), 3, 150, seed=6)
    sizes = features.group_by("date", "venue").len()
    cap = int(sizes["len"].median())  # type: ignore[arg-type]
    sample = stratified_sample(features, cap, seed=1)
    got = sample.group_by("date", "venue").agg(pl.len().alias("kept"), pl.col(SAMPLE_WEIGHT).sum().alias("w"))
    both = sizes.join(got, on=["date", "venue"])
    assert both.height == sizes.height and (both["kept"] == both["len"].clip(upper_bound=cap)).all()
    np.testing.assert_allclose(both["w"].to_numpy(), both["len"].to_numpy().astype(float))
    assert sample.equals(stratified_sample(features, cap, seed=1))  # reproducible
    assert stratified_sample(features, None) is features
    model, _ = train_router(features, TrainConfig(n_estimators=8, max_depth=3, sample_cap_per_day_venue=cap))
    assert model.meta["train_rows"] == features.height and model.meta["sampled_rows"] == sample.height
