"""A child id is unique within a day only (FIX ClOrdIDs restart every session): the backtest must key a
decision by (date, child_id), or a fallback of several days multiplies every decision."""

from __future__ import annotations

from datetime import date

import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.learning.backtest import logged_decisions, walk_forward
from tests.synthetic_features import make_days

START = date(2024, 3, 4)


def _ids_restart_every_day(features: pl.DataFrame) -> pl.DataFrame:
    """Strip the date prefix the generator gives ids: 'c000001' on every day, like a FIX session's ids."""
    return features.with_columns(pl.col("child_id").str.split("-").list.last().alias("child_id"),
                                 pl.col("parent_id").str.split("-").list.last().alias("parent_id"))


def test_fallback_of_several_days_prices_each_decision_once_with_its_own_days_value() -> None:
    feats, _ = make_days(START, 2, n_requests=60, seed=3)
    feats = _ids_restart_every_day(feats)
    days = sorted(feats["date"].unique().to_list())
    fallback = pl.concat([feats.filter(pl.col("date") == d).select(
        "date", "child_id", pl.lit(float(10 * (i + 1))).alias("fallback_bps")) for i, d in enumerate(days)])
    test = feats.filter(pl.col("date") == days[1])
    out = logged_decisions(test, fallback)
    assert out.height == test.filter(pl.col("route_rank") == 1).height  # not x2
    assert out["lit_sweep_bps"].unique().to_list() == [20.0]  # day 2's value, never day 1's


def test_walk_forward_gives_the_same_decisions_whether_ids_repeat_across_days_or_not() -> None:
    feats, _ = make_days(START, 5, n_requests=150, seed=4)
    settings = Settings(train_window_days=3, backtest_folds=2, embargo_days=0)
    fallback = feats.select("date", "child_id", (pl.col("spread_bps") / 2 + 2.0).alias("fallback_bps"))
    unique = walk_forward(feats, settings, fallback=fallback).orders
    repeated_feats = _ids_restart_every_day(feats)
    repeated_fb = fallback.with_columns(pl.col("child_id").str.split("-").list.last())
    repeated = walk_forward(repeated_feats, settings, fallback=repeated_fb).orders
    assert repeated.height == unique.height == feats.filter(pl.col("date").is_in(
        sorted(feats["date"].unique().to_list())[-2:])).height
    assert repeated["logged_cost_bps"].sum() == unique["logged_cost_bps"].sum()
