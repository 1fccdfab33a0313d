"""Fold models are reused only when they would be fitted on identical rows with identical settings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.learning.backtest import venue_day_stats
from sor_pipeline.learning.fold_cache import FoldCache, frame_digest
from sor_pipeline.learning.router_model import RouterModel, VenueModel
from sor_pipeline.learning.train import SAMPLE_WEIGHT, TrainConfig, sample_parents, stratified_sample, train_router
from sor_pipeline.promotion.retrain import read_window
from sor_pipeline.storage.lake import Lake
from tests.synthetic_features import make_days, write_to_lake


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


def test_sampling_parents_keeps_them_whole_and_weights_the_share() -> None:
    rng = np.random.default_rng(3)
    n_parents = 400
    kids = rng.integers(1, 4, n_parents)  # 1..3 children per parent, the first one the decision
    parent = np.repeat([f"P{i:04d}" for i in range(n_parents)], kids)
    rank = np.concatenate([np.arange(1, k + 1) for k in kids])
    frame = pl.DataFrame({"parent_id": parent, "route_rank": rank, "date": [date(2024, 3, 4)] * len(parent),
                          "venue": rng.choice(["A", "B"], len(parent))})
    assert sample_parents(frame, None) is frame and sample_parents(frame, n_parents) is frame
    half = sample_parents(frame, 100, seed=2)
    kept = half["parent_id"].unique()
    assert half.filter(pl.col("route_rank") == 1).height == kept.len() == 100
    whole = frame.filter(pl.col("parent_id").is_in(kept.implode()))
    assert half.drop(SAMPLE_WEIGHT).equals(whole)  # every child of a kept parent, in order
    assert (half[SAMPLE_WEIGHT] == 4.0).all() and half.equals(sample_parents(frame, 100, seed=2))
    # stratifying the sample on top multiplies the weights: each stratum still sums to its share of the day
    both = stratified_sample(half, 20, seed=1)
    assert both.group_by("venue").len()["len"].max() == 20
    np.testing.assert_allclose(both.group_by("venue").agg(pl.col(SAMPLE_WEIGHT).sum()).sort("venue")[SAMPLE_WEIGHT],
                               half.group_by("venue").len().sort("venue")["len"].to_numpy() * 4.0)


def test_the_nights_window_is_bounded_as_it_is_read(tmp_path: Path) -> None:
    features, _ = make_days(date(2024, 3, 4), 6, 300, seed=5)
    lake = Lake(tmp_path / "lake")
    write_to_lake(lake, features)
    days = sorted(features["date"].unique().to_list())
    s = Settings(home=tmp_path)
    whole = read_window(lake, days, days[-3:], s, TrainConfig.from_settings(s))  # the default bounds
    assert whole.sort("date", "child_id").equals(features.sort("date", "child_id").select(whole.columns))
    # under the default bounds (a demo-sized day), the same frame as the unbounded whole read, row for row
    unbounded = s.with_overrides(backtest_max_decisions_per_day=None, train_sample_cap_per_day_venue=None)
    assert read_window(lake, days, days[-3:], unbounded, TrainConfig.from_settings(unbounded)).equals(whole)
    bounded_s = s.with_overrides(backtest_max_decisions_per_day=1000)  # the settings' least: every decision
    assert read_window(lake, days, days[-3:], bounded_s, TrainConfig()).height == whole.height
    cap = 40
    bounded = read_window(lake, days, days[-3:], s, TrainConfig(sample_cap_per_day_venue=cap))
    per = bounded.group_by("date", "venue").len()
    assert per.filter(pl.col("date").is_in(days[:3]))["len"].max() == cap  # training-only days: capped
    test_rows = bounded.filter(pl.col("date").is_in(days[-3:]))
    assert test_rows.height == whole.filter(pl.col("date").is_in(days[-3:])).height  # test days: whole
    assert (test_rows[SAMPLE_WEIGHT] == 1.0).all()
    # the candidate rows see the same venue statistics (a mean of equal values, to rounding)
    a, b = venue_day_stats(bounded), venue_day_stats(whole)
    assert a.select("date", "venue", "venue_type").equals(b.select("date", "venue", "venue_type"))
    for col in a.columns[3:]:
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=1e-12)
