"""Online (live router) features == batch features (sor_pipeline.features) on the same events, to 1e-9."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from schemas.features import FEATURE_COLUMNS
from sor_pipeline.features import decision_features
from sor_pipeline.features.build import child_requests
from sor_pipeline.features.online import ALL_FEATURES, TimeOfDay, realized_vol_bps, venue_stats_from_frame
from sor_pipeline.learning.router_model import RouterModel, VenueModel
from sor_pipeline.serving import LiveRouter, Order, snapshot_at
from tests.fixtures_market import make_day, session_open_ns

STATS = pl.DataFrame({  # DRK2 and LITB have no history: null stats
    "venue": ["DRK1", "ECNM", "ECNI", "LITA"], "venue_fill_rate_20d": [0.4, 0.9, 0.6, 0.97],
    "venue_time_to_fill_s_20d": [1.2, 0.1, 0.3, 0.05], "venue_markout_5s_bps_20d": [-1.0, 0.2, -0.3, 0.1],
    "venue_markout_60s_bps_20d": [-2.0, 0.1, -0.5, 0.0], "venue_slippage_bps_20d": [0.5, 1.5, 0.9, 2.8],
})


def _extra_children(day_frames: dict[str, pl.DataFrame], day: date) -> pl.DataFrame:
    """Edge events: before any tick of the day, and a LMT child without limit price."""
    c = day_frames["child_orders"]
    first = c.head(2).with_columns(
        pl.Series("sent_ts", [session_open_ns(day) - 5 * 10**9, session_open_ns(day) + 10**9])
        .cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
        pl.Series("child_id", ["EDGE-0", "EDGE-1"]))
    return pl.concat([c, first], how="vertical_relaxed")


@pytest.mark.parametrize("day", [date(2024, 3, 5), date(2024, 7, 9)])  # EST and EDT
def test_online_features_match_batch(day: date) -> None:
    frames = make_day(day, n_symbols=3, n_nbbo=1500, n_depth=400, n_parents=25, seed=day.day)
    children = _extra_children(frames, day)
    nbbo, depth = frames["nbbo"], frames["depth"]
    adv = pl.DataFrame({"symbol": ["S0000", "S0001"], "adv": [250_000.0, 1_500_000.0]})  # S0002 unknown
    batch = decision_features(child_requests(children.lazy(), frames["parent_orders"].lazy()), nbbo, depth,
                              frames["venues"], STATS, adv, rvol_window_s=300.0, extra_columns=["child_id"])
    model = RouterModel({v: VenueModel(v, t, fill_const=0.5, slippage_const_bps=1.0)
                         for v, t in frames["venues"].select("venue", "venue_type").iter_rows()})
    router = LiveRouter(model, static_waterfall=list(model.venues))
    stats = venue_stats_from_frame(STATS)
    adv_map = dict(adv.iter_rows())
    urgency = dict(frames["parent_orders"].select("parent_id", "urgency").iter_rows())
    ts_ns = children["sent_ts"].dt.epoch("ns").to_list()
    online = []
    for row, t in zip(children.iter_rows(named=True), ts_ns, strict=True):
        order = Order(symbol=row["symbol"], side=row["side"], qty=row["qty"], order_type=row["order_type"],
                      tif=row["tif"], limit_px=row["limit_px"], urgency=urgency[row["parent_id"]], ts=t)
        snap = snapshot_at(nbbo, depth, row["symbol"], t, adv=adv_map.get(row["symbol"]), venue_stats=stats)
        online.append(router.features(order, snap)[router.venues.index(row["venue"])])
    got = np.array(online)
    want = batch.select([pl.col(c).cast(pl.Float64) for c in ALL_FEATURES]).to_numpy()
    assert batch["child_id"].to_list() == children["child_id"].to_list()
    assert set(ALL_FEATURES) == set(FEATURE_COLUMNS)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, equal_nan=True)
    # every feature is exercised with real values somewhere, and the edge rows are missing market data
    assert (~np.isnan(want)).any(axis=0).all()
    assert np.isnan(got[-2, ALL_FEATURES.index("spread_bps")])


def test_time_of_day_and_rvol_edges() -> None:
    tod = TimeOfDay("America/New_York")
    open_ns = session_open_ns(date(2024, 3, 11))  # first EDT day
    assert tod(open_ns) == 0.0 and tod(open_ns + int(6.5 * 3600e9)) == 1.0
    assert tod(open_ns + int(3.25 * 3600e9)) == pytest.approx(0.5, abs=1e-12)
    ts = np.array([0, 100, 200, 400], dtype=np.int64) * 10**9
    mid = np.array([100.0, 101.0, 100.5, 100.7])
    assert realized_vol_bps(ts, mid, -1) is None
    full = float(np.sqrt(np.sum(np.diff(np.log(mid)) ** 2)) * 1e4)
    assert realized_vol_bps(ts, mid, 400 * 10**9, 1e6) == pytest.approx(full)
    # window (100 s, 400 s]: anchor at the last row at or before 100 s
    part = float(np.sqrt(np.sum(np.diff(np.log(mid[1:])) ** 2)) * 1e4)
    assert realized_vol_bps(ts, mid, 400 * 10**9, 300.0) == pytest.approx(part)
