"""MLflow registry round trip (sqlite in tmp) and the nightly retrain end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from schemas.features import FEATURE_COLUMNS
from sor_pipeline.config.settings import Settings
from sor_pipeline.learning import TrainConfig, plots, train_router
from sor_pipeline.learning.backtest import candidate_rows, venue_day_stats
from sor_pipeline.learning.router_model import RouterModel
from sor_pipeline.promotion.retrain import run_retrain
from sor_pipeline.storage import registry
from sor_pipeline.storage.lake import Lake
from tests.synthetic_features import make_days, write_to_lake

pytestmark = pytest.mark.integration
START = date(2024, 3, 4)


def _candidates(features: pl.DataFrame, n: int = 5) -> pl.DataFrame:
    last = features.filter(pl.col("date") == features["date"].max())
    return candidate_rows(last.head(n), venue_day_stats(features)).select("request_id", "venue", *FEATURE_COLUMNS)


def _log_and_register(settings: Settings, features: pl.DataFrame, tag: str) -> str:
    router, reports = train_router(features)
    with registry.parent_run(settings, f"test-{tag}", {"t": tag}):
        registry.log_venue_runs(reports, {"tag": tag}, figures=plots.venue_figures)
        uri = registry.log_router_model(router, _candidates(features, 2))
    return registry.register_model(settings, uri, {"run_key": tag, "gate_verdict": "pass"})


def test_registry_aliases_and_rollback(settings: Settings) -> None:
    features, _ = make_days(START, 5, 300, seed=2)
    v1 = _log_and_register(settings, features.filter(pl.col("date") <= date(2024, 3, 7)), "a")
    registry.promote(settings, v1)
    assert registry.champion_version(settings) == v1 and registry.previous_version(settings) is None
    with pytest.raises(registry.RegistryError, match="roll back"):
        registry.rollback(settings)

    v2 = _log_and_register(settings, features, "b")
    registry.promote(settings, v2)
    assert registry.champion_version(settings) == v2 and registry.previous_version(settings) == v1
    assert registry.find_version(settings, "run_key", "b") == v2
    assert registry.rollback(settings) == v1
    assert registry.champion_version(settings) == v1
    client = registry.configure(settings)
    for mv in client.search_model_versions(f"name='{settings.mlflow.model_name}'"):
        assert mv.current_stage in (None, "None")  # aliases, never stages
        assert mv.tags["run_key"] in {"a", "b"}
    local = registry.load_champion(settings, RouterModel.load)
    assert local is not None and set(local.venues) == set(features["venue"].unique())


def test_champion_at_start_of_a_night_ignores_that_nights_promotion(settings: Settings) -> None:
    """A night judges the model that routed its day: after night D promoted its own challenger, a
    re-run of night D still sees the champion the night started with."""
    from sor_pipeline.promotion.champion import champion_at_start, champion_reference

    d1, d2, d3 = date(2024, 3, 7), date(2024, 3, 8), date(2024, 3, 11)
    features, _ = make_days(START, 4, 200, seed=3)
    assert champion_at_start(settings, d1) is None
    v1 = _log_and_register(settings, features, "a")
    registry.set_version_tags(settings, v1, {"day": d1.isoformat(), "train_window": "2024-03-04..2024-03-07"})
    registry.promote(settings, v1)
    assert champion_at_start(settings, d1) is None  # night d1 started with no champion, even on a re-run
    assert champion_at_start(settings, d2) == v1 and champion_reference(settings, d2) == (START, d1)
    v2 = _log_and_register(settings, features, "b")
    registry.set_version_tags(settings, v2, {"day": d2.isoformat()})
    registry.promote(settings, v2)
    assert champion_at_start(settings, d2) == v1  # re-running night d2 after it promoted v2
    assert champion_at_start(settings, d3) == v2
    assert champion_at_start(settings) == v2  # no night given: the current champion


def test_champion_same_predictions_in_fresh_process(settings: Settings, tmp_path: Path) -> None:
    """models:/<name>@champion loaded in a new interpreter (pyfunc and raw boosters) predicts the same."""
    features, _ = make_days(START, 4, 300, seed=2)
    registry.promote(settings, _log_and_register(settings, features, "a"))
    cand = _candidates(features)
    local = registry.load_champion(settings, RouterModel.load)
    assert local is not None
    expected = local.score(cand)["expected_cost_bps"].to_numpy()
    cand.write_parquet(tmp_path / "cand.parquet")
    code = textwrap.dedent(f"""
        import polars as pl, mlflow
        from sor_pipeline.config.settings import Settings
        from sor_pipeline.learning.router_model import RouterModel
        from sor_pipeline.storage import registry
        s = Settings(); registry.configure(s)
        cand = pl.read_parquet({str(tmp_path / 'cand.parquet')!r})
        uri = registry.model_uri(s)
        py = mlflow.pyfunc.load_model(uri).predict(cand.to_pandas())
        raw = registry.load_router_model(uri, RouterModel.load).score(cand)
        pl.DataFrame({{"py": py["expected_cost_bps"].to_numpy(), "raw": raw["expected_cost_bps"].to_numpy()}}) \\
            .write_parquet({str(tmp_path / 'out.parquet')!r})
    """)
    env = {**os.environ, "SOR_HOME": str(settings.home)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert np.allclose(out["py"].to_numpy(), expected, atol=1e-6)
    assert np.allclose(out["raw"].to_numpy(), expected, atol=1e-6)



def test_run_retrain_promotes_first_and_is_idempotent(settings: Settings) -> None:
    # the change-point test finds a (spurious) LITA fill-ratio shift on the last day of this data; the
    # intraday fold would then judge that day's later half (tests/unit/test_gate.py), so it is off here
    # where the verdict is checked against the per-day figures of the folds
    s = settings.with_overrides(train_window_days=5, backtest_folds=3, embargo_days=1, backtest_intraday_fold=False)
    assert (s.train.window_days, s.backtest.folds, s.backtest.embargo_days) == (5, 3, 1)
    features, oracle = make_days(START, 11, 300, seed=4)
    lake = Lake(s.lake_root)
    write_to_lake(lake, features, oracle)
    next_day = features["date"].max()
    day = features.filter(pl.col("date") < next_day)["date"].max()
    first = run_retrain(day, lake, s)
    print(json.dumps(first.as_dict(), default=str)[:600])
    assert first.promoted and first.champion_version == first.challenger_version
    assert first.cost_source == "dr" and first.cost_diff_bps < 0 and first.action == "promote"
    assert [(e["action"], e["to"]) for e in registry.ledger(s)] == [("promote", first.challenger_version)]
    assert len(first.per_day) == 3 and first.verdict == "pass"
    # the gate's difference is the per-day figures' (first night: against the static waterfall), per decision
    n = sum(d["n_requests"] for d in first.per_day)
    weighted = sum((d["challenger"] - d["static"]) * d["n_requests"] for d in first.per_day) / n
    assert first.cost_diff_bps == pytest.approx(weighted, abs=1e-6)
    again = run_retrain(day, lake, s)
    assert again.reused and again.challenger_version == first.challenger_version
    tags = registry.version_tags(s, first.challenger_version)
    assert {"train_window", "data_hash", "code_version", "gate_verdict"} <= set(tags)
    _assert_what_the_ui_shows(s, first)
    # a worse challenger (one shallow tree per venue model) fails the gate against the champion:
    # it is registered, not promoted, and the champion stays where it was
    weak = run_retrain(next_day, lake, s, train_config=TrainConfig(n_estimators=1, max_depth=1))
    assert weak.per_day[-1]["champion"] is not None  # judged against the champion, not the waterfall
    assert weak.verdict == "fail" and not weak.promoted and not weak.gate_passed
    assert weak.cost_diff_bps > 0 or weak.p_value >= s.gate.alpha
    assert registry.champion_version(s) == first.challenger_version
    assert registry.version_tags(s, weak.challenger_version)["promoted"] == "false"
    # failed data checks refuse even a good challenger
    blocked = run_retrain(day, lake, s, data_checks_ok=False, run_key="blocked")
    assert not blocked.promoted and blocked.challenger_version != first.challenger_version
    assert registry.champion_version(s) == first.challenger_version
    assert registry.version_tags(s, blocked.challenger_version)["gate_verdict"] == "fail"


def _assert_what_the_ui_shows(s: Settings, first: Any) -> None:
    """The run that trained has its window as a dataset input; the version a paragraph saying why."""
    client = registry.configure(s)
    inputs = client.get_run(first.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    ds, input_tags = inputs[0].dataset, {t.key: t.value for t in inputs[0].tags}
    window = registry.version_tags(s, first.challenger_version)["train_window"]
    assert ds.name == f"features {window}" and ds.digest == first.data_hash[:36]
    assert json.loads(ds.source) == {"uri": str(s.lake_root / "features")}
    assert input_tags == {"mlflow.data.context": "training", "data_hash": first.data_hash, "train_window": window}
    text = client.get_model_version(s.mlflow.model_name, first.challenger_version).description
    assert text.startswith(f"Night {first.day}: challenger v{first.challenger_version} PROMOTED")
    assert f"{first.cost_diff_bps:+.3f} bps" in text and f"p = {first.p_value:.4f}" in text
    assert "the static waterfall" in text and "Gate pass: challenger cheaper than the static" in text
    assert "look 1)" in text  # the first night that can judge spends the first look


def test_experiment_carries_the_training_view_tag(settings: Settings) -> None:
    client = registry.configure(settings)
    exp = client.get_experiment_by_name(settings.mlflow.experiment_name)
    assert exp is not None and exp.tags["mlflow.experimentKind"] == "custom_model_development"
    # an experiment made before (or switched to the GenAI view) is set right on the next configure
    client.set_experiment_tag(exp.experiment_id, "mlflow.experimentKind", "genai_development")
    client = registry.configure(settings)
    exp = client.get_experiment_by_name(settings.mlflow.experiment_name)
    assert exp is not None and exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_finalize_describes_the_decision(settings: Settings) -> None:
    from sor_pipeline.promotion.retrain import finalize_promotion

    features, _ = make_days(START, 4, 200, seed=3)
    version = _log_and_register(settings, features, "a")
    registry.set_version_tags(settings, version, {"day": "2024-03-07", "gate_verdict": "pass", "p_value": "0.001",
                                                  "cost_diff_bps": "-0.5", "cost_source": "oracle"})
    sandbox = {"passed": False, "reasons": ["sandbox cost above champion by 0.2 bps"]}
    moved = finalize_promotion(settings, "2024-03-07", {"challenger_version": version, "action": "promote",
                                                        "gate_passed": True, "reasons": ["cheaper"]}, sandbox)
    assert moved == {"promoted": False, "demoted": False} and registry.ledger(settings) == []
    text = registry.configure(settings).get_model_version(settings.mlflow.model_name, version).description
    assert text.startswith(f"Night 2024-03-07: challenger v{version} KEPT OUT: the gate passed but the sandbox")
    assert "sandbox cost above champion by 0.2 bps" in text and text.endswith("Sandbox failed.")
