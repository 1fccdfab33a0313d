"""The nightly end to end on data_samples under Prefect's test harness: a full night, a fault that
stops it before the gate and a re-run that resumes, and a repeated night that changes nothing."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import pytest

from sor_pipeline.config.faults import FAULT_ENV, StageFailed
from sor_pipeline.config.settings import Settings, get_settings

pytestmark = pytest.mark.integration

DAYS = [date(2024, 3, d) for d in (4, 5, 6, 7, 8)]
NIGHT = DAYS[-1]


@pytest.fixture(scope="module")
def history_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lake with the first four sample days ingested, featured and TCA'd (plain function calls)."""
    from sor_pipeline.features import write_features
    from sor_pipeline.ingest.day import ingest_day
    from sor_pipeline.storage.lake import Lake
    from sor_pipeline.tca.run import run_tca
    from tests.integration.conftest import SAMPLES

    root = tmp_path_factory.mktemp("history") / "lake"
    lake, settings = Lake(root), Settings(home=root.parent)
    for d in DAYS[:-1]:
        ingest_day(d, SAMPLES, lake, settings)
        write_features(d, lake, settings)
        run_tca(d, lake)
    return root


@pytest.fixture()
def home(sor_home: Path, history_lake: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    shutil.copytree(history_lake, sor_home / "lake")
    monkeypatch.setenv("SOR_BACKTEST_FOLDS", "2")  # five sample days: 2 folds + 2 training days

    monkeypatch.delenv(FAULT_ENV, raising=False)
    get_settings.cache_clear()
    return get_settings()


def _lake_digest(root: Path) -> dict[str, str]:
    # quarantine rows carry the time they were quarantined; everything else must be byte-identical
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet")) if "quarantine" not in p.parts}


def _versions(settings: Settings) -> list[str]:
    from mlflow import MlflowClient

    from sor_pipeline.storage import registry

    registry.configure(settings)
    return sorted(str(v.version) for v in MlflowClient().search_model_versions(f"name='{settings.mlflow.model_name}'"))


FINAL_KEYS = ("promoted", "champion_version", "challenger_version", "verdict", "p_value", "cost_diff_bps")


def test_nightly_end_to_end(prefect_harness: None, home: Settings, samples: Path) -> None:
    from flows.nightly import nightly_flow

    out = nightly_flow(NIGHT, str(samples))
    assert out["date"] == NIGHT.isoformat()
    assert out["rows"]["child_orders"]["written"] > 100 and out["rows"]["fills"]["quarantined"] == 0
    assert out["challenger_version"] == "1" and out["cost_source"] == "dr"  # logged data only, never the oracle
    assert 0.0 <= out["p_value"] <= 1.0 and out["cost_diff_bps"] == pytest.approx(out["cost_diff_bps"])
    # the verdict, the registry and the summary agree, whichever way the gate went
    from sor_pipeline.storage import registry

    tags = registry.version_tags(home, "1")
    assert tags["gate_verdict"] == out["verdict"] and tags["promoted"] == str(out["promoted"]).lower()
    assert float(tags["p_value"]) == pytest.approx(out["p_value"])
    assert out["promoted"] == (out["verdict"] == "pass" and bool((out.get("sandbox") or {"passed": True})["passed"]))
    assert registry.champion_version(home) == ("1" if out["promoted"] else None) == out["champion_version"]
    if out["verdict"] == "pass":
        assert out["p_value"] < home.gate.alpha and out["cost_diff_bps"] < 0
    else:
        assert out["action"] in {"keep", "inconclusive"} and out["reasons"]
    assert Path(out["report_html"]).is_file() and Path(out["report_pdf"]).is_file()
    assert home.lake_root.joinpath("tca_child", f"date={NIGHT}").is_dir()
    assert home.lake_root.joinpath("monitoring", f"date={NIGHT}").is_dir()
    from mlflow import MlflowClient

    artifacts = {a.path for a in MlflowClient().list_artifacts(out["run_id"], "monitor")}
    assert "monitor/summary.json" in artifacts  # monitoring results are in the night's run


def test_error_level_feed_breach_stops_before_training(prefect_harness: None, home: Settings, samples: Path,
                                                       tmp_path: Path) -> None:
    import polars as pl

    from flows.nightly import nightly_flow

    raw = tmp_path / "raw"
    shutil.copytree(samples / NIGHT.isoformat(), raw / NIGHT.isoformat())
    for table in ("quotes", "depth"):  # a lit venue's feed went quiet
        path = raw / NIGHT.isoformat() / f"{table}.parquet"
        pl.read_parquet(path).filter(pl.col("venue") != "LITB").write_parquet(path)
    with pytest.raises(StageFailed, match=rf"nightly {NIGHT}: stage 'monitor' failed: .*missing_venue"):
        nightly_flow(NIGHT, str(raw))
    assert _versions(home) == []
    assert home.lake_root.joinpath("monitoring", f"date={NIGHT}").is_dir()


def test_fault_stops_before_gate_and_rerun_resumes(prefect_harness: None, home: Settings, samples: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.nightly import nightly_flow
    from sor_pipeline.storage import registry

    monkeypatch.setenv(FAULT_ENV, "retrain")
    with pytest.raises(StageFailed, match=rf"nightly {NIGHT}: stage 'retrain' failed"):
        nightly_flow(NIGHT, str(samples))
    assert registry.champion_version(home) is None and _versions(home) == []
    assert home.lake_root.joinpath("features", f"date={NIGHT}").is_dir()  # stages before it finished
    monkeypatch.delenv(FAULT_ENV)
    resumed = nightly_flow(NIGHT, str(samples))
    digest = _lake_digest(home.lake_root)

    # an uninterrupted night on an identical copy gives the same final result
    other = home.home.parent / "uninterrupted"
    shutil.copytree(home.home / "lake", other / "lake")
    for name in ("features", "tca_child", "tca_parent", "tca_agg", "monitoring", *[
            t for t in ("venues", "parent_orders", "child_orders", "fills", "quotes", "depth", "trades", "nbbo",
                        "sim_oracle", "quarantine")]):
        shutil.rmtree(other / "lake" / name / f"date={NIGHT}", ignore_errors=True)
    monkeypatch.setenv("SOR_HOME", str(other))
    get_settings.cache_clear()
    straight = nightly_flow(NIGHT, str(samples))
    # figures to 1e-12 relative: a fold model reused from the cache and one fitted afresh may sum in
    # another order (seen once: p 0.7427054940600853 vs ...852); the decision itself must be identical
    figures = ("p_value", "cost_diff_bps")
    assert {k: resumed[k] for k in FINAL_KEYS if k not in figures} == \
        {k: straight[k] for k in FINAL_KEYS if k not in figures}
    assert [resumed[k] for k in figures] == pytest.approx([straight[k] for k in figures], rel=1e-12, nan_ok=True)
    assert _lake_digest(other / "lake") == digest  # same files, same bytes


def test_two_nightlies_same_lake_one_version(prefect_harness: None, home: Settings, samples: Path) -> None:
    from flows.nightly import nightly_flow

    first = nightly_flow(NIGHT, str(samples))
    digest = _lake_digest(home.lake_root)
    second = nightly_flow(NIGHT, str(samples))
    assert _lake_digest(home.lake_root) == digest
    assert _versions(home) == ["1"]
    assert {k: first[k] for k in FINAL_KEYS} == {k: second[k] for k in FINAL_KEYS}
