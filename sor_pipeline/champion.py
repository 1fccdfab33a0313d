"""What the nightly needs to know about the current champion, read through the registry module."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

from sor_pipeline import registry
from sor_pipeline.settings import Settings

Scorer = Callable[[pl.DataFrame], pl.DataFrame]


def champion_reference(settings: Settings) -> tuple[date, date] | None:
    """The champion's training window (its ``train_window`` tag, ``YYYY-MM-DD..YYYY-MM-DD``), or None."""
    version = registry.champion_version(settings)
    if version is None:
        return None
    window = registry.version_tags(settings, version).get("train_window", "")
    try:
        start, end = window.split("..")
        return date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        return None


def champion_scorer(settings: Settings) -> Scorer | None:
    """``RouterModel.score`` of the champion (p_fill, slippage_bps, expected_cost_bps), or None."""
    model = registry.load_champion(settings)
    return None if model is None else model.score
