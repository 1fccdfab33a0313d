"""The sandbox stage: a challenger the router library cannot load (or that falls back) is refused."""

from __future__ import annotations

from datetime import date

import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.promotion.sandbox import run_sandbox
from sor_pipeline.storage.lake import Lake

pytestmark = pytest.mark.integration


def test_unloadable_challenger_fails_sandbox(settings: Settings) -> None:
    result = run_sandbox(date(2024, 3, 8), settings, Lake(settings.lake_root), "99", None)
    assert not result.passed
    assert result.sandbox_date == "2024-03-11"  # the next trading day after a Friday
    assert any("could not be loaded" in r for r in result.reasons)
    assert result.challenger_fallbacks > 0 and result.decisions > 0
    # the static waterfall (no champion yet) was the comparison, on the very same simulated day
    assert result.champion_cost_bps == pytest.approx(result.static_cost_bps)
