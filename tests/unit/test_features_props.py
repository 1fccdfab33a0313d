"""Property tests: input row order, no look-ahead, side symmetry of the labels."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.features import FEATURE_COLUMNS, LABEL_COLUMNS
from sor_pipeline.config.settings import Settings
from sor_pipeline.features import child_labels, decision_features, features_from_frames
from sor_pipeline.features.build import child_requests
from tests.fixtures_market import NS, make_day

DAY = date(2024, 3, 5)
BASE = make_day(DAY, n_symbols=3, n_nbbo=1500, n_depth=400, n_parents=15, seed=11)
SETTINGS = Settings()
PROPS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _build(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return features_from_frames(
        frames["child_orders"].lazy(), frames["parent_orders"].lazy(), frames["fills"].lazy(), frames["nbbo"].lazy(),
        frames["depth"].lazy(), frames["venues"].lazy(), None, None, SETTINGS,
    ).sort("child_id")


EXPECTED = _build(BASE)


@PROPS
@given(st.integers(0, 2**32 - 1))
def test_row_order_of_inputs_does_not_matter(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shuffled = {k: v.sample(fraction=1.0, shuffle=True, seed=int(rng.integers(2**31))) for k, v in BASE.items()}
    got = _build(shuffled)
    keys = [c for c in EXPECTED.columns if c not in LABEL_COLUMNS]
    assert got.select(keys).equals(EXPECTED.select(keys))  # features: bit for bit
    for c in LABEL_COLUMNS:  # labels: float sums over fills may differ in the last ulp
        np.testing.assert_allclose(got[c].cast(pl.Float64).to_numpy(), EXPECTED[c].cast(pl.Float64).to_numpy(),
                                   rtol=0, atol=1e-9, err_msg=c)


def _late_ticks(rng: np.random.Generator, cut_ns: int, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Random NBBO and depth rows stamped strictly after ``cut_ns`` (wild prices and sizes)."""
    def pick(frame: pl.DataFrame) -> pl.DataFrame:
        idx = rng.integers(0, frame.height, n)
        ts = cut_ns + rng.integers(1, 3600 * NS, n)
        out = frame[idx.tolist()].with_columns(pl.Series("ts", ts).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"))
        return out
    nbbo = pick(BASE["nbbo"]).with_columns(pl.col("bid_px") * 3, pl.col("ask_px") * 3 + 1, pl.col("mid_px") * 3 + 0.5)
    depth = pick(BASE["depth"]).with_columns(pl.col("bid_sz_1") * 50, pl.col("ask_sz_3") + 7)
    return nbbo, depth


@PROPS
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_ticks_after_decision_never_change_its_features(seed: int, where: float) -> None:
    rng = np.random.default_rng(seed)
    kids = BASE["child_orders"]
    sent = kids["sent_ts"].dt.epoch("ns")
    lo, hi = int(sent.min()), int(sent.max())  # type: ignore[arg-type]
    cut = lo + int(where * (hi - lo))
    late_nbbo, late_depth = _late_ticks(rng, cut, 200)
    req = child_requests(kids.lazy(), BASE["parent_orders"].lazy()).collect()
    before = decision_features(req, BASE["nbbo"], BASE["depth"], BASE["venues"])
    after = decision_features(req, pl.concat([BASE["nbbo"], late_nbbo]), pl.concat([BASE["depth"], late_depth]),
                              BASE["venues"])
    decided = (before["decision_ts"].dt.epoch("ns") <= cut).to_numpy()
    assert decided.any()
    cols = ["arrival_mid", *FEATURE_COLUMNS]
    assert after.filter(decided).select(cols).equals(before.filter(decided).select(cols))


@PROPS
@given(st.integers(0, 2**32 - 1))
def test_flipping_side_flips_slippage_and_markouts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    kids = EXPECTED.select("child_id", "symbol", "side", "qty", "sent_ts", "arrival_mid")  # sorted by child_id
    flip = rng.random(kids.height) < 0.5
    other = kids["side"].replace_strict({"BUY": "SELL", "SELL": "BUY"})
    flipped = kids.with_columns(pl.Series("side", np.where(flip, other.to_numpy(), kids["side"].to_numpy())))
    h = [1.0, 5.0, 30.0, 60.0]
    a = child_labels(kids, BASE["fills"], BASE["nbbo"], h).collect().sort("child_id")
    b = child_labels(flipped, BASE["fills"], BASE["nbbo"], h).collect().sort("child_id")
    sign = np.where(flip, -1.0, 1.0)
    ex_fee_a = (a["arrival_slippage_bps"] - a["fee_bps"]).to_numpy() * sign
    ex_fee_b = (b["arrival_slippage_bps"] - b["fee_bps"]).to_numpy()
    np.testing.assert_allclose(ex_fee_a, ex_fee_b, atol=1e-9)
    for c in ["markout_1s_bps", "markout_60s_bps"]:
        np.testing.assert_allclose(a[c].to_numpy() * sign, b[c].to_numpy(), atol=1e-9)
    assert a["filled_qty"].equals(b["filled_qty"])
    np.testing.assert_allclose(a["fee_bps"].to_numpy(), b["fee_bps"].to_numpy(), atol=1e-12)
