"""Monitoring that a desk keeps reading: clean simulated days are quiet, regime shifts still fire.

Days are simulated straight into a lake (:func:`sor_pipeline.simulation.calibration.monitor_days`) and
monitored in order, so thresholds calibrate on the lake's own earlier days, as in the nightly.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sor_pipeline.simulation import SimConfig
from sor_pipeline.simulation.calibration import monitor_days
from sor_pipeline.simulation.config import Regime

START = date(2024, 3, 4)


def test_quiet_days_stay_quiet_and_both_shifts_fire(tmp_path: Path) -> None:
    # 5 clean days, then on day 5 DRK2 turns toxic (x8) and ECNM's fill rate halves
    shift = [Regime("toxic", start_day=5, factor=8.0, venue="DRK2"),
             Regime("fill_rate", start_day=5, factor=0.5, venue="ECNM")]
    days = monitor_days(SimConfig(seed=3, regimes=shift), START, 6, tmp_path)
    clean, shifted = [d for d in days if not d.shifted], [d for d in days if d.shifted]
    assert len(clean) == 5 and len(shifted) == 1
    assert all(d.warn_rows <= 1 for d in clean), [(d.day, d.breaches) for d in clean]
    hit = shifted[0]
    assert hit.fired("psi_outcome", "DRK2", "arrival_slippage_bps"), hit.breaches
    assert hit.fired("psi_outcome", "ECNM", "filled"), hit.breaches


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 21, 31])
def test_clean_days_of_several_seeds(tmp_path: Path, seed: int) -> None:
    days = monitor_days(SimConfig(seed=seed, regimes=[]), START, 8, tmp_path)
    assert sum(d.warn_rows for d in days) / len(days) <= 1.0, [(d.day, d.breaches) for d in days]
    assert max(d.alerts for d in days) <= 1, [(d.day, d.breaches) for d in days]


@pytest.mark.slow
def test_volatility_shift_fires(tmp_path: Path) -> None:
    days = monitor_days(SimConfig(seed=5, regimes=[Regime("volatility", start_day=5, factor=1.6)]), START, 6, tmp_path)
    assert days[-1].shifted and days[-1].fired("psi_feature", None, "rvol_5m_bps"), days[-1].breaches
