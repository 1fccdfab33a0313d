"""Fold models are reused only for the same training window and data; stratified sampling bounds training."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from sor_pipeline.learning.fold_cache import FoldCache, data_hash
from sor_pipeline.learning.router_model import RouterModel
from sor_pipeline.learning.train import SAMPLE_WEIGHT, TrainConfig, stratified_sample, train_router
from tests.synthetic_features import make_days

CFG = TrainConfig(n_estimators=8, max_depth=3)


def _scores(model: RouterModel, frame: pl.DataFrame) -> np.ndarray:
    return model.predict(frame).select("p_fill", "slippage_bps").to_numpy()


def test_fold_models_reused_only_for_same_window_and_data(tmp_path: Path) -> None:
    features, _ = make_days(date(2024, 3, 4), 4, 120, seed=5)
    calls: list[int] = []

    def fit(frame: pl.DataFrame) -> RouterModel:
        calls.append(frame.height)
        return train_router(frame, CFG)[0]

    cache = FoldCache(tmp_path / "folds", CFG)
    cached = cache.wrap(fit)
    first = cached(features)
    again = FoldCache(tmp_path / "folds", CFG).wrap(fit)(features)  # another night, another process
    assert len(calls) == 1
    np.testing.assert_array_equal(_scores(first, features), _scores(again, features))

    # one changed value on one day of the window: retrained
    day = features["date"].max()
    changed = features.with_columns(
        pl.when((pl.col("date") == day) & (pl.int_range(pl.len()) == features.height - 1))
        .then(pl.col("arrival_slippage_bps") + 1.0).otherwise(pl.col("arrival_slippage_bps"))
        .alias("arrival_slippage_bps"))
    assert data_hash(changed) != data_hash(features)
    cached(changed)
    assert len(calls) == 2
    # another window (the first day dropped): retrained; the same frames again: reused
    shorter = features.filter(pl.col("date") > features["date"].min())
    cached(shorter)
    cached(shorter)
    cached(changed)
    assert len(calls) == 3 and cache.hits == 2 and cache.misses == 3
    # another training configuration never shares a key
    FoldCache(tmp_path / "folds", TrainConfig(n_estimators=9, max_depth=3)).wrap(fit)(features)
    assert len(calls) == 4


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
