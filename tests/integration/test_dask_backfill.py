"""A Dask backfill (``SOR_TASK_RUNNER=dask``, a LocalCluster of two single-thread worker processes) over
data_samples equals the serial backfill: the lake's partitions byte for byte, every night's verdict and
decision, the registry's versions and alias moves, and the champion's predictions on a sample.

Default suite: the fan-out of ingest, features and TCA over three dates, against the same stages run one
after another (lake bytes, and the order the stages ran in). Marked slow (3 to 6 minutes each on two
shared cores): whole backfills of three dates (the third night trains, is gated and promotes) and of all
five (the fourth and fifth nights monitor, backtest and gate against the champion the third promoted).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sor_pipeline.config.settings import apply_runtime_env, get_settings
from tests.integration.test_reliability_runs import lake_digest

pytestmark = pytest.mark.integration

#: What a night decided (ids, paths and times left out).
DECISION = (
    "date",
    "verdict",
    "promoted",
    "demoted",
    "action",
    "champion_version",
    "challenger_version",
    "p_value",
    "cost_diff_bps",
    "routes_tomorrow",
    "data_checks_ok",
    "reasons",
)


def _backfill(
    home: Path, runner: str, start: date, end: date, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    from flows.backfill import backfill_flow

    monkeypatch.setenv("SOR_HOME", str(home))
    monkeypatch.setenv("SOR_TASK_RUNNER", runner)
    get_settings.cache_clear()
    apply_runtime_env(get_settings())
    return backfill_flow(start, end, str(samples))


def _registry_state(home: Path) -> dict[str, Any]:
    import polars as pl

    from sor_pipeline.config.settings import Settings
    from sor_pipeline.learning.router_model import RouterModel
    from sor_pipeline.storage import registry
    from sor_pipeline.storage.lake import Lake

    settings = Settings(home=home)
    versions = registry.search_versions(settings, {})
    last = max((str(v.version) for v in versions), key=int, default=None)
    scores = None
    if last is not None:  # the champion (else the newest challenger): what routes the next day
        version = registry.champion_version(settings) or last
        model = registry.load_version(settings, version, RouterModel.load)
        lake = Lake(settings.lake_root)
        sample = lake.read("features", [lake.dates("features")[-1]]).collect().head(200)
        scores = model.score(sample.with_columns(pl.col("child_id").alias("request_id")))
        scores = scores.select("p_fill", "slippage_bps", "expected_cost_bps").to_numpy()
    return {
        "versions": sorted((str(v.version), v.tags.get("day"), v.tags.get("train_window")) for v in versions),
        "champion": registry.champion_version(settings),
        "ledger": [(e["night"], e["action"], e["from"], e["to"]) for e in registry.ledger(settings)],
        "scores": scores,
    }


def _compare(samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: date, end: date) -> None:
    monkeypatch.setenv("SOR_BACKTEST_FOLDS", "1")  # a night trains from the third sample date on
    # a gate that the sample's little exploration can pass: the third night promotes, and the nights after
    # it monitor, backtest and gate against that champion
    monkeypatch.setenv("SOR_GATE_ALPHA", "0.45")
    monkeypatch.setenv("SOR_GATE_MIN_ESS", "2")
    serial = _backfill(tmp_path / "serial", "thread", start, end, samples, monkeypatch)
    fanned = _backfill(tmp_path / "dask", "dask", start, end, samples, monkeypatch)
    assert [n["date"] for n in fanned] == [n["date"] for n in serial]
    assert [{k: n.get(k) for k in DECISION} for n in fanned] == [{k: n.get(k) for k in DECISION} for n in serial]
    assert any(n["promoted"] for n in serial)  # a night trained, was gated and promoted
    ref, got = lake_digest(tmp_path / "serial" / "lake"), lake_digest(tmp_path / "dask" / "lake")
    assert sorted(got) == sorted(ref)
    assert [k for k in ref if got[k] != ref[k]] == []
    a, b = _registry_state(tmp_path / "serial"), _registry_state(tmp_path / "dask")
    assert {k: v for k, v in b.items() if k != "scores"} == {k: v for k, v in a.items() if k != "scores"}
    assert a["scores"] is not None and b["scores"] is not None
    np.testing.assert_array_equal(b["scores"], a["scores"])  # thread counts pinned: exactly equal


def test_stage_fan_out_equals_serial_stages_in_dependency_order(
    prefect_harness: None, sor_home: Path, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fan-out alone (ingest, features, TCA of three dates on two worker processes) writes the lake
    that the same stages called one after another write, and ran each stage after what it reads."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect_dask import DaskTaskRunner

    from flows.backfill import FAN_OUT, submit_stages
    from flows.common import dask_cluster
    from sor_pipeline.config.settings import Settings
    from sor_pipeline.features import write_features
    from sor_pipeline.ingest.day import ingest_day
    from sor_pipeline.storage.lake import Lake
    from sor_pipeline.tca.run import run_tca

    days = [date(2024, 3, d) for d in (4, 5, 6)]
    ref_home = tmp_path / "serial"
    ref_lake, ref_settings = Lake(ref_home / "lake"), Settings(home=ref_home)
    for d in days:
        ingest_day(d, samples, ref_lake, ref_settings)
        write_features(d, ref_lake, ref_settings)
        run_tca(d, ref_lake)

    monkeypatch.setenv("SOR_HOME", str(tmp_path / "dask"))
    monkeypatch.setenv("SOR_TASK_RUNNER", "dask")
    get_settings.cache_clear()
    settings = get_settings()
    apply_runtime_env(settings)

    @flow
    def fan_out() -> dict[date, dict[str, tuple[Any, Any]]]:
        with dask_cluster(settings) as address, DaskTaskRunner(address=address) as runner:
            plan = submit_stages(runner, Lake(settings.lake_root), days, samples)
            for d in days:
                for stage in FAN_OUT:
                    plan[d][stage].result()
        with get_client(sync_client=True) as client:
            return {
                d: {
                    s: (run.start_time, run.end_time)
                    for s in FAN_OUT
                    for run in [client.read_task_run(plan[d][s].task_run_id)]
                }
                for d in days
            }

    times = fan_out()
    assert lake_digest(tmp_path / "dask" / "lake") == lake_digest(ref_home / "lake")
    for i, d in enumerate(days):
        assert times[d]["features"][0] >= times[d]["ingest"][1] and times[d]["tca"][0] >= times[d]["ingest"][1]
        if i:  # features read the earlier dates' features (venue statistics) and trades (ADV)
            assert times[d]["features"][0] >= times[days[i - 1]]["features"][1]


@pytest.mark.slow
def test_dask_backfill_equals_serial_three_days(
    prefect_harness: None, sor_home: Path, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compare(samples, tmp_path, monkeypatch, date(2024, 3, 4), date(2024, 3, 6))


@pytest.mark.slow
def test_dask_backfill_equals_serial_all_sample_days(
    prefect_harness: None, sor_home: Path, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compare(samples, tmp_path, monkeypatch, date(2024, 3, 4), date(2024, 3, 8))


def test_a_running_cluster_with_other_thread_counts_is_named(
    sor_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``SOR_DASK_ADDRESS``: the backfill joins that cluster (task runners made meanwhile use it) and logs
    workers whose polars/DuckDB thread counts differ from this process's."""
    from distributed import LocalCluster

    from flows.common import dask_cluster, task_runner
    from sor_pipeline.config.threads import thread_counts

    ours = thread_counts()
    env = {"POLARS_MAX_THREADS": str(ours["polars"] + 1), "SOR_DUCKDB_THREADS": str(ours["duckdb"])}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, env=env) as cluster:
        monkeypatch.setenv("SOR_TASK_RUNNER", "dask")
        monkeypatch.setenv("SOR_DASK_ADDRESS", str(cluster.scheduler_address))
        get_settings.cache_clear()
        with caplog.at_level("WARNING", logger="flows.common"), dask_cluster(get_settings()) as address:
            assert address == cluster.scheduler_address
            assert task_runner(get_settings()).address == address
    assert "other thread counts" in caplog.text and f"'polars': {ours['polars'] + 1}" in caplog.text


@pytest.mark.slow
def test_a_failed_stage_stops_the_dask_backfill_at_its_night(
    prefect_harness: None, sor_home: Path, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage that fails on a worker stops the backfill as it stops a serial one: ``StageFailed`` naming
    the stage and the first date, no night run, and the dates' locks free again."""
    from flows.backfill import backfill_flow
    from sor_pipeline.config.faults import FAULT_ENV, StageFailed
    from sor_pipeline.storage.locks import date_lock

    monkeypatch.setenv("SOR_TASK_RUNNER", "dask")
    monkeypatch.setenv(FAULT_ENV, "features")
    get_settings.cache_clear()
    apply_runtime_env(get_settings())
    with pytest.raises(StageFailed) as failed:
        backfill_flow(date(2024, 3, 4), date(2024, 3, 5), str(samples))
    assert failed.value.stage == "features" and failed.value.day == date(2024, 3, 4)
    assert not (sor_home / "mlflow" / "mlflow.db").exists()  # no night logged anything
    for d in (4, 5):
        with date_lock(get_settings(), date(2024, 3, d), "nightly"):
            pass
