"""What the nightly needs to know about the current champion, read through the registry module.

A night for trading date D judges the model that routed day D: the champion the night *started*
with. Once night D has promoted its own challenger, the registry's champion is that challenger, so a
re-run of night D (resume after a failure, an operator re-running the date) must look one step
back, to the version it replaced; :func:`champion_at_start` does that, which keeps a re-run's
monitoring, fingerprints and sandbox identical to the first run's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.learning.router_model import RouterModel
from sor_pipeline.storage import registry

Scorer = Callable[[pl.DataFrame], pl.DataFrame]
#: Version tag holding the trading date of the night that trained (and could promote) the version.
NIGHT_TAG = "day"


def champion_at_start(settings: Settings, day: date | None = None) -> str | None:
    """The champion version night ``day`` started with: the current champion, unless it was trained on
    night ``day`` or later (so night ``day`` itself promoted it), then the previous champion it
    replaced (None if there was none). ``day=None``: the current champion."""
    version = registry.champion_version(settings)
    if version is None or day is None:
        return version
    night = registry.version_tags(settings, version).get(NIGHT_TAG, "")
    try:
        promoted_by_this_night = date.fromisoformat(night) >= day
    except ValueError:
        promoted_by_this_night = False
    return registry.previous_version(settings) if promoted_by_this_night else version


def champion_reference(settings: Settings, day: date | None = None) -> tuple[date, date] | None:
    """The training window (its ``train_window`` tag, ``YYYY-MM-DD..YYYY-MM-DD``) of the champion night
    ``day`` started with (:func:`champion_at_start`), or None."""
    version = champion_at_start(settings, day)
    if version is None:
        return None
    window = registry.version_tags(settings, version).get("train_window", "")
    try:
        start, end = window.split("..")
        return date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        return None


def champion_scorer(settings: Settings, day: date | None = None) -> Scorer | None:
    """``RouterModel.score`` (p_fill, slippage_bps, expected_cost_bps) of the champion night ``day``
    started with (:func:`champion_at_start`), or None."""
    version = champion_at_start(settings, day)
    if version is None:
        return None
    return registry.load_version(settings, version, RouterModel.load).score
