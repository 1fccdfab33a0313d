"""Change-points in one venue's daily outcomes (:mod:`sor_pipeline.learning.shifts`) and the training
weights they set (:func:`sor_pipeline.learning.train.mark_regime`)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from sor_pipeline.learning.shifts import find_shift
from sor_pipeline.learning.train import REGIME_WEIGHT, TrainConfig, mark_regime, row_weights

D0 = date(2024, 3, 4)


def _venue(days: int, *, slip_shift_bps: float = 0.0, fill_shift: float = 0.0, from_day: int = 99,
           n: int = 200, seed: int = 0) -> pl.DataFrame:
    """``days`` days of one venue's rows: slippage ~ N(2 + day effect, 3) bps, + = cost; fill ratio ~ 0.6;
    from day ``from_day`` on, slippage moves by ``slip_shift_bps`` and fill ratio by ``fill_shift``."""
    rng = np.random.default_rng(seed)
    frames = []
    for d in range(days):
        on = d >= from_day
        p = 0.6 + (fill_shift if on else 0.0)
        filled = (rng.random(n) < p).astype(np.int8)
        slip = 2.0 + rng.normal(0, 0.2) + rng.normal(0, 3.0, n) + (slip_shift_bps if on else 0.0)
        frames.append(pl.DataFrame({"date": [D0 + timedelta(days=d)] * n, "filled": filled,
                                    "fill_ratio": filled.astype(np.float64), "arrival_slippage_bps": slip}))
    return pl.concat(frames)


def test_a_pool_turning_toxic_is_found_on_its_first_day() -> None:
    shift = find_shift(_venue(10, slip_shift_bps=6.0, from_day=9))
    assert shift is not None and shift.start == D0 + timedelta(days=9) and shift.outcome == "slippage_bps"
    assert shift.change > 5.0 and shift.z >= 6.0 and shift.post_days == 1
    later = find_shift(_venue(12, slip_shift_bps=6.0, from_day=9))
    assert later is not None and later.start == D0 + timedelta(days=9) and later.post_days == 3


def test_a_fill_rate_drop_is_a_shift_and_a_cheaper_venue_is_not() -> None:
    drop = find_shift(_venue(10, fill_shift=-0.3, from_day=8))
    assert drop is not None and drop.outcome == "fill_ratio" and drop.change < -0.2
    assert find_shift(_venue(10, slip_shift_bps=-6.0, from_day=8)) is None  # cheaper: recency weights learn it
    assert find_shift(_venue(10, fill_shift=0.3, from_day=8)) is None


def test_calm_days_and_short_histories_have_no_shift() -> None:
    assert all(find_shift(_venue(15, seed=s)) is None for s in range(20))
    assert find_shift(_venue(4, slip_shift_bps=6.0, from_day=3)) is None  # fewer than 4 days before it
    assert find_shift(_venue(10, slip_shift_bps=0.5, from_day=9)) is None  # below the least move (1 bps)


def test_rows_before_the_shift_weigh_little_in_training() -> None:
    frame = _venue(10, slip_shift_bps=6.0, from_day=8)
    marked, shift = mark_regime(frame, TrainConfig())
    assert shift is not None and shift.start == D0 + timedelta(days=8)
    w = marked[REGIME_WEIGHT].to_numpy()
    before = (marked["date"] < shift.start).to_numpy()
    assert np.all(w[before] == 0.05) and np.all(w[~before] == 1.0)
    both = row_weights(marked, 3.0)
    recency = row_weights(frame, 3.0)
    assert both is not None and recency is not None and np.allclose(both, recency * w)
    unchanged, none = mark_regime(frame, TrainConfig(shift_z=None))
    assert none is None and REGIME_WEIGHT not in unchanged.columns


def _features(days: int, toxic_from: int) -> pl.DataFrame:
    calm = _venue(days, seed=1).with_columns(pl.lit("LITA").alias("venue"))
    toxic = _venue(days, slip_shift_bps=6.0, from_day=toxic_from, seed=2).with_columns(pl.lit("DRK2").alias("venue"))
    return pl.concat([calm, toxic])


def test_the_nights_evidence_names_the_latest_shift() -> None:
    from sor_pipeline.promotion.retrain import shift_note

    note = shift_note(_features(12, toxic_from=10), None)
    assert note["venue"] == "DRK2" and note["start"] == str(D0 + timedelta(days=10)) and note["change"] > 5.0
    assert note["note"].startswith("DRK2 shifted on 2024-03-14 (slippage (bps) +")
    assert shift_note(_features(12, toxic_from=99), None) == {}
    assert shift_note(_features(12, toxic_from=10), TrainConfig(shift_z=None)) == {}


def test_short_history_judges_on_fewer_folds() -> None:
    from sor_pipeline.config.settings import Settings
    from sor_pipeline.promotion.retrain import min_history_days, night_folds

    s = Settings()  # 5 folds, at least 3, no embargo
    assert min_history_days(s) == 5 and [night_folds(s, n) for n in (5, 6, 7, 30)] == [3, 4, 5, 5]
    assert min_history_days(Settings(backtest={"folds": 2})) == 4


def test_a_shift_stays_found_when_the_router_then_avoids_the_venue() -> None:
    """The day a pool turns toxic it gets its usual orders; from the next day the router (its intraday guard,
    then the retrained model) sends it few: 40 rows a day of which only 10 fill. Those thin days count on
    neither side of the slippage test, and the shift is still found on its first day instead of vanishing
    the night after."""
    def thin_after(frame: pl.DataFrame, day: int) -> pl.DataFrame:
        late = pl.col("date") >= D0 + timedelta(days=day)
        k = pl.int_range(pl.len()).over("date")
        out = frame.filter(~late | (k < 40))
        filled = pl.when(late & (pl.int_range(pl.len()).over("date") >= 10)).then(0).otherwise(pl.col("filled"))
        return out.with_columns(filled.cast(pl.Int8).alias("filled"), pl.col("fill_ratio"))

    full = _venue(12, slip_shift_bps=6.0, from_day=9)
    shift = find_shift(thin_after(full, 10))
    assert shift is not None and shift.start == D0 + timedelta(days=9) and shift.outcome == "slippage_bps"
    assert shift.post_days == 1
    # a start day without enough filled rows of its own is not a candidate
    assert find_shift(thin_after(full, 9)) is None
