"""The night's decision in production mode: it never depends on the simulator's truth, and every
alias move is written to the ledger that rollback walks."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.learning import TrainConfig, train_router
from sor_pipeline.promotion.retrain import look_number, run_retrain
from sor_pipeline.storage import registry
from sor_pipeline.storage.lake import Lake
from tests.integration.test_registry import _candidates
from tests.synthetic_features import make_days, write_to_lake

pytestmark = pytest.mark.integration
START = date(2024, 3, 4)
FAST = TrainConfig(n_estimators=40)


def _settings(home: Path) -> Settings:
    return Settings(home=home, train_window_days=5, backtest_folds=3, embargo_days=0)


def test_decision_identical_without_or_with_scrambled_truth(tmp_path: Path) -> None:
    features, oracle = make_days(START, 9, 300, seed=6)
    rng = np.random.default_rng(0)
    scrambled = oracle.with_columns(pl.Series("expected_cost_bps", rng.permutation(oracle["expected_cost_bps"])))
    results = []
    for name, truth in (("with", oracle), ("none", None), ("scrambled", scrambled)):
        s = _settings(tmp_path / name)
        lake = Lake(s.lake_root)
        write_to_lake(lake, features, truth)
        day = features["date"].max()
        results.append(run_retrain(day, lake, s, train_config=FAST).as_dict())
    keys = ("action", "verdict", "promoted", "cost_diff_bps", "p_value", "reasons", "per_day", "cost_source")
    first = {k: results[0][k] for k in keys}
    assert first["cost_source"] == "dr" and not any(r.get("reused") for r in results)
    for other in results[1:]:
        assert {k: other[k] for k in keys} == first


def _version(settings: Settings, features: pl.DataFrame, tag: str) -> str:
    model, _ = train_router(features, FAST)
    with registry.parent_run(settings, f"t-{tag}", {"t": tag}):
        uri = registry.log_router_model(model, _candidates(features, 2))
    return registry.register_model(settings, uri, {"run_key": tag})


def test_rollback_walks_the_ledger_after_promotion_and_demotion(tmp_path: Path) -> None:
    s = Settings(home=tmp_path / "home")
    features, _ = make_days(START, 3, 120, seed=2)
    v1, v2 = _version(s, features, "a"), _version(s, features, "b")
    registry.promote_version(s, v1, "2024-03-05", "first champion", {"diff": -1.0})
    registry.promote_version(s, v2, "2024-03-06", "cheaper", {"diff": -0.6})
    registry.demote_champion(s, "2024-03-07", "costlier than static", {"diff": 0.9})
    assert registry.champion_version(s) is None  # static routes
    assert [registry.routed_by(s, d) for d in ("2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08")] == \
        ["static", v1, v2, "static"]
    assert [(e["action"], e["from"], e["to"]) for e in registry.ledger(s)] == \
        [("promote", "static", v1), ("promote", v1, v2), ("demote", v2, "static")]
    assert registry.ledger(s)[2]["evidence"] == {"diff": 0.9}
    assert registry.rollback(s) == v2 and registry.champion_version(s) == v2  # the demotion undone
    assert registry.rollback(s) == v1 and registry.champion_version(s) == v1  # then v2's promotion
    assert registry.rollback(s) == "static" and registry.champion_version(s) is None
    with pytest.raises(registry.RegistryError):
        registry.rollback(s)


def test_restore_hands_back_to_the_previous_champion_and_rolls_back(tmp_path: Path) -> None:
    s = Settings(home=tmp_path / "home")
    features, _ = make_days(START, 3, 120, seed=2)
    v1, v2 = _version(s, features, "a"), _version(s, features, "b")
    registry.promote_version(s, v1, "2024-03-05", "first champion", {})
    registry.promote_version(s, v2, "2024-03-06", "cheaper", {})
    assert registry.restore_previous(s, "2024-03-07", "costlier than the previous champion", {"d": 1.1}) == v1
    assert registry.champion_version(s) == v1 and registry.previous_version(s) == v2
    assert registry.routed_by(s, "2024-03-08") == v1
    assert registry.ledger(s)[-1]["action"] == "restore"
    assert registry.rollback(s) == v2 and registry.champion_version(s) == v2


def test_warm_up_night_registers_a_scout_that_is_never_judged(tmp_path: Path) -> None:
    s = _settings(tmp_path / "home")  # 3 folds: 5 feature days before a night can be judged
    features, _ = make_days(START, 6, 200, seed=4)
    lake = Lake(s.lake_root)
    write_to_lake(lake, features, None)
    days = sorted(features["date"].unique().to_list())
    first = run_retrain(days[0], lake, s, train_config=FAST)  # 1 day < scout_min_days (2): nothing
    assert first.verdict == "skipped" and first.challenger_version == ""
    scout = run_retrain(days[1], lake, s, train_config=FAST)
    assert (scout.verdict, scout.action, scout.promoted, scout.cost_source) == ("scout", "scout", False, "none")
    tags = registry.version_tags(s, scout.challenger_version)
    assert tags["action"] == "scout" and tags["promoted"] == "false" and tags["train_window"].endswith(str(days[1]))
    assert registry.champion_version(s) is None and registry.ledger(s) == []
    assert registry.judged_nights(s) == []  # a scout is no look at the incumbent
    assert registry.latest_version(s) == scout.challenger_version  # ... but it steers static's exploration
    assert run_retrain(days[1], lake, s, train_config=FAST).reused  # idempotent by run key
    judged = run_retrain(days[4], lake, s, train_config=FAST)
    assert judged.verdict != "scout" and judged.evidence["look"] == 1
    assert registry.judged_nights(s) == [str(days[4])]
    # the next night is the incumbent's second look (the first if that night moved the alias), unless a
    # venue's regime changed: a shift starting that day begins a new sequence of looks (one starting the
    # day before still counts that night)
    assert look_number(s, days[5]) == (1 if registry.ledger(s) else 2)
    assert look_number(s, days[5], shift_start=days[5]) == 1
    assert look_number(s, days[5], shift_start=days[4]) == look_number(s, days[5])
    nxt = run_retrain(days[5], lake, s, train_config=FAST)
    later = days[5] + timedelta(days=1)
    if nxt.action not in ("promote", "demote"):
        assert look_number(s, later) == look_number(s, days[5]) + 1
    assert look_number(s, later, shift_start=later) == 1
    assert look_number(s, later, shift_start=days[5]) == (1 if nxt.action in ("promote", "demote") else 2)
    off = s.with_overrides(train_scout_min_days=0)
    assert run_retrain(days[2], lake, off, train_config=FAST).verdict == "skipped"
