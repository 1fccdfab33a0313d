"""Drift (PSI) fires on a regime shift and not on a stable day; model health with toy score callables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.monitoring import MonitorSettings, psi, run_monitor
from sor_pipeline.monitoring.drift import drift_rows
from sor_pipeline.monitoring.model_health import check_router_fallback, model_rows
from sor_pipeline.monitoring.schema import results_frame
from sor_pipeline.storage.lake import Lake
from tests.unit.test_monitor_fixtures import DAY, DAYS, features_day, toy_score

CFG = MonitorSettings()
WATERFALL = ["DRK1", "DRK2", "ECNM", "ECNI", "LITA", "LITB"]


@pytest.fixture(scope="module")
def reference() -> pl.DataFrame:
    return pl.concat([features_day(d, seed=i) for i, d in enumerate(DAYS[:-1])])


def breached(rows: list[dict[str, object]]) -> pl.DataFrame:
    return results_frame(DAY, rows).filter(~pl.col("passed"))


def test_psi_basics() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0, 1, 20_000)
    assert psi(a, b) < 0.01
    assert psi(a, b + 1.0) > 0.25
    assert psi(a, a) == pytest.approx(0.0)
    # empty bins are floored at epsilon: finite; nulls have their own bin
    assert np.isfinite(psi(a, np.full(100, 50.0)))
    with_nulls = pl.Series([1.0, None, 2.0, None] * 50)
    assert psi(pl.Series([1.0, 2.0] * 100), with_nulls) > 0.25


def test_stable_day_does_not_drift(reference: pl.DataFrame) -> None:
    b = breached(drift_rows(features_day(DAY, seed=99), reference, CFG))
    assert b.height == 0, b


def test_regime_shift_drifts(reference: pl.DataFrame) -> None:
    shifted = features_day(DAY, seed=99, spread_scale=3.0, slip_shift={"DRK1": 6.0})
    rows = drift_rows(shifted, reference, CFG)
    b = breached(rows)
    feats = b.filter(pl.col("check") == "psi_feature")
    assert feats["subject"].to_list() == ["spread_bps"]
    assert feats["value"][0] > CFG.psi_error and feats["severity"][0] == "warn"  # drift warns by default
    out = b.filter(pl.col("check") == "psi_outcome")
    assert out.select("venue", "subject").rows() == [("DRK1", "arrival_slippage_bps")]
    strict = MonitorSettings(drift_severe_severity="error")
    assert "error" in breached(drift_rows(shifted, reference, strict))["severity"].to_list()


def test_feature_turning_null_drifts(reference: pl.DataFrame) -> None:
    broken = features_day(DAY, seed=99).with_columns(pl.lit(None, pl.Float64).alias("venue_fill_rate_20d"))
    b = breached(drift_rows(broken, reference, CFG))
    assert b.filter(pl.col("check") == "psi_feature")["subject"].to_list() == ["venue_fill_rate_20d"]


def test_drift_through_run_monitor_uses_lake_reference(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    for i, d in enumerate(DAYS[:-1]):
        lake.write("features", features_day(d, n=600, seed=i), d)
    lake.write("features", features_day(DAY, n=600, seed=99, spread_scale=3.0), DAY)
    report = run_monitor(DAY, lake, Settings(home=tmp_path), reference=(DAYS[0], DAYS[-2]), write=False,
                         config=MonitorSettings())
    r = report.results
    hit = r.filter((pl.col("check") == "psi_feature") & ~pl.col("passed"))
    assert hit["subject"].to_list() == ["spread_bps"]
    assert r.filter(pl.col("check") == "model_health")["severity"].to_list() == ["info"]  # score=None


def test_model_bias_sign_and_calibration() -> None:
    day = features_day(DAY, seed=5)
    good = breached(model_rows(day, None, toy_score(), WATERFALL, CFG))
    assert good.height == 0, good
    # predicted slippage 3 bps below realized -> bias = predicted - realized < 0 (optimistic), warn
    rows = model_rows(day, None, toy_score(slip_offset_bps=-3.0), WATERFALL, CFG)
    res = results_frame(DAY, rows)
    bias = res.filter(pl.col("check") == "model_slippage_bias")
    assert bias.height == 4 and (~bias["passed"]).all()
    assert bias["value"].to_list() == pytest.approx([-3.0] * 4, abs=0.3)
    cal = res.filter(pl.col("check") == "model_fill_calibration")
    assert cal["passed"].all() and (cal["value"].abs() < 0.05).all()
    brier = res.filter(pl.col("check") == "model_brier")
    assert brier.height == 4 and (brier["value"] < 0.25).all()


def test_champion_vs_static_off_policy() -> None:
    day = features_day(DAY, n=4000, seed=6)
    good = results_frame(DAY, model_rows(day, None, toy_score(), WATERFALL, CFG))
    row = good.filter(pl.col("check") == "champion_vs_static")
    assert row["value"][0] < 0 and row["passed"][0]  # the true model beats always-DRK1 on large orders
    bad = results_frame(DAY, model_rows(day, None, toy_score(invert=True), WATERFALL, CFG))
    row = bad.filter(pl.col("check") == "champion_vs_static")
    assert row["value"][0] > CFG.champion_vs_static_warn_bps and row["severity"][0] == "warn"


def test_router_fallback_share() -> None:
    children = pl.DataFrame({"parent_id": ["P1", "P1", "P2", "P3", "P4"],
                             "router_policy": ["model:3", "model:3/fallback", "static", "model:3", "model:3"]})
    row = check_router_fallback(children, CFG)
    assert row["value"] == pytest.approx(0.25) and not row["passed"] and row["severity"] == "warn"
    ok = check_router_fallback(children.filter(pl.col("parent_id") != "P1"), CFG)
    assert ok["passed"] and ok["value"] == 0.0
