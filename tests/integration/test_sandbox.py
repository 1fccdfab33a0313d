"""The sandbox replays the night's logged requests through the challenger as the live router loads it:
an unloadable challenger is refused, a loadable one routes every request, and one the off-policy
estimate says is worse than the incumbent is refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.features import write_features
from sor_pipeline.ingest.day import ingest_day
from sor_pipeline.learning import TrainConfig, train_router
from sor_pipeline.promotion.sandbox import logged_requests, replay_sample, run_sandbox
from sor_pipeline.storage import registry
from sor_pipeline.storage.lake import Lake
from tests.integration.test_registry import _candidates

pytestmark = pytest.mark.integration
DAYS = [date(2024, 3, 4), date(2024, 3, 5)]


@pytest.fixture()
def night(settings: Settings, samples: Path) -> tuple[Settings, Lake, str]:
    lake = Lake(settings.lake_root)
    for d in DAYS:
        ingest_day(d, samples, lake, settings)
        write_features(d, lake, settings)
    model, _ = train_router(lake.read("features", days=DAYS).collect(), TrainConfig(n_estimators=30))
    with registry.parent_run(settings, "sandbox-test", {}):
        last = lake.read("features", days=DAYS[-1:]).collect().with_columns(pl.lit(DAYS[-1]).alias("date"))
        uri = registry.log_router_model(model, _candidates(last, 2))
    return settings, lake, registry.register_model(settings, uri, {"run_key": "sandbox"})


def test_unloadable_challenger_fails_sandbox(night: tuple[Settings, Lake, str]) -> None:
    settings, lake, _ = night
    result = run_sandbox(DAYS[-1], settings, lake, "99", None)
    assert not result.passed and any("could not be loaded" in r for r in result.reasons)
    assert result.challenger_fallbacks == result.decisions > 100  # every logged request replayed


def test_loadable_challenger_passes_and_a_worse_one_is_refused(night: tuple[Settings, Lake, str]) -> None:
    settings, lake, version = night
    good = run_sandbox(DAYS[-1], settings, lake, version, None, ope_diff_bps=-0.4)
    assert good.passed, good.reasons
    assert good.challenger_fallbacks == good.nonfinite == good.misallocated == 0 and good.decisions > 100
    worse = run_sandbox(DAYS[-1], settings, lake, version, None, ope_diff_bps=0.3)
    assert not worse.passed and any("off-policy cost +0.300 bps above the incumbent" in r for r in worse.reasons)


def test_a_big_night_replays_a_seeded_uniform_sample(night: tuple[Settings, Lake, str]) -> None:
    """Bounded by design: at most sandbox.max_requests requests, the same ones on a re-run, spread over the day."""
    settings, lake, version = night
    logged = logged_requests(lake, DAYS[-1])
    sample = replay_sample(logged, 100, DAYS[-1])
    assert sample.height == 100 < logged.height
    assert sample.equals(replay_sample(logged, 100, DAYS[-1]))  # a re-run replays the same requests
    assert not sample.equals(replay_sample(logged, 100, DAYS[0]))
    assert sample["sent_ts"].is_sorted() and sample["child_id"].n_unique() == 100
    ts = logged["sent_ts"].cast(pl.Int64)
    mid = ts.min() + (ts.max() - ts.min()) // 2  # type: ignore[operator]
    assert 20 < int((sample["sent_ts"].cast(pl.Int64) < mid).sum()) < 80  # not the morning only
    assert replay_sample(logged, None, DAYS[-1]).equals(logged)
    capped = run_sandbox(DAYS[-1], settings.with_overrides(sandbox_max_requests=100), lake, version, None)
    assert capped.passed and capped.decisions == 100 and capped.logged_requests == logged.height
