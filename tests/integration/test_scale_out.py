"""Configuration reaches real servers without code changes: per-venue training fans out on a Dask
LocalCluster through prefect-dask, and the nightly logs to an `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from sor_pipeline.config.settings import Settings, get_settings

pytestmark = pytest.mark.integration


def test_per_venue_training_on_dask_local_cluster(prefect_harness: None, sor_home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import flow

    from flows.common import task_runner
    from flows.retrain import prefect_mapper
    from sor_pipeline.learning.train import train_router
    from tests.synthetic_features import make_days

    monkeypatch.setenv("SOR_TASK_RUNNER", "dask")
    get_settings.cache_clear()
    runner = task_runner(get_settings())
    assert type(runner).__name__ == "DaskTaskRunner"
    features, _ = make_days(date(2024, 3, 4), 3, n_requests=300, seed=3)

    @flow(task_runner=runner)
    def train_on_dask() -> tuple[list[str], np.ndarray]:
        model, _ = train_router(features, mapper=prefect_mapper)
        return sorted(model.venues), model.score(features.head(50).with_columns(
            features.head(50)["child_id"].alias("request_id")))["expected_cost_bps"].to_numpy()

    venues, dask_scores = train_on_dask()
    serial, _ = train_router(features)
    serial_scores = serial.score(features.head(50).with_columns(features.head(50)["child_id"].alias("request_id")))
    assert venues == sorted(serial.venues) and len(venues) >= 4
    np.testing.assert_allclose(dask_scores, serial_scores["expected_cost_bps"].to_numpy(), rtol=0, atol=1e-9)


def test_xgboost_dask_training_matches_a_local_fit_to_a_tolerance(sor_home: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``SOR_XGBOOST_DASK=true`` with a cluster address: every booster trains through xgboost.dask, its
    rows split over two worker processes. Stated tolerance, without row subsampling (``subsample=1``): the
    expected cost within 0.25 bps on average and 1.5 bps at the 99th percentile, the fill probability
    within 0.05. The distributed quantile sketch proposes other split candidates once a feature has more
    distinct values than bins: measured on five times these rows (1500 requests a day), expected cost
    0.08 bps apart on average, 0.67 bps at the 99th percentile, 2.9 bps at most (costs spread 4.9 bps),
    fill probability 0.008 at most, the same tree counts; on these rows the sketch is exact and the two
    agree to 1e-6. With the default ``subsample=0.9`` each worker draws its own rows and early stopping
    may stop elsewhere: measured here 0.44 bps on average, 4.2 bps at most, 29 trees instead of 150 for
    one venue. No bitwise equality is claimed for xgboost.dask."""
    from dataclasses import replace

    from distributed import LocalCluster

    from sor_pipeline.learning.train import TrainConfig, train_router
    from tests.synthetic_features import make_days

    features, _ = make_days(date(2024, 3, 4), 3, n_requests=300, seed=3)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.setenv("SOR_TASK_RUNNER", "dask")
        monkeypatch.setenv("SOR_DASK_ADDRESS", str(cluster.scheduler_address))
        monkeypatch.setenv("SOR_XGBOOST_DASK", "true")
        get_settings.cache_clear()
        config = replace(TrainConfig.from_settings(), subsample=1.0)
        assert config.dask_address == cluster.scheduler_address
        distributed, _ = train_router(features, config)
    local, _ = train_router(features, replace(config, dask_address=None))
    assert sorted(distributed.venues) == sorted(local.venues)
    assert any(m.fill is not None for m in distributed.venues.values())  # boosters, not constants
    rows = features.with_columns(features["child_id"].alias("request_id"))
    a, b = distributed.score(rows), local.score(rows)
    cost = np.abs(a["expected_cost_bps"].to_numpy() - b["expected_cost_bps"].to_numpy())
    fill = np.abs(a["p_fill"].to_numpy() - b["p_fill"].to_numpy())
    p99 = float(np.quantile(cost, 0.99))
    assert cost.mean() < 0.25 and p99 < 1.5, f"expected cost: mean {cost.mean():.3f}, p99 {p99:.3f} bps"
    assert fill.max() < 0.05, f"p_fill: max {fill.max():.4f}"


def test_xgboost_dask_needs_a_cluster_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOR_XGBOOST_DASK", "true")
    with pytest.raises(ValueError, match="xgboost_dask needs"):
        Settings()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 with a sqlite backend, stopped after the test."""
    port = _free_port()
    store = tmp_path / "server"
    store.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{store}/mlflow.db", "--artifacts-destination", str(store / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("mlflow server did not start within 90 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_nightly_against_mlflow_server(prefect_harness: None, sor_home: Path, samples: Path, mlflow_server: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    from flows.nightly import backfill_flow

    monkeypatch.setenv("SOR_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("SOR_BACKTEST_FOLDS", "1")
    monkeypatch.setenv("SOR_SANDBOX_ENABLED", "false")
    get_settings.cache_clear()
    settings: Settings = get_settings()
    nights = backfill_flow(date(2024, 3, 6), date(2024, 3, 8), str(samples))
    assert [n["date"] for n in nights] == ["2024-03-06", "2024-03-07", "2024-03-08"]
    versions = MlflowClient(tracking_uri=mlflow_server).search_model_versions(f"name='{settings.mlflow.model_name}'")
    assert {str(v.version) for v in versions} == {n["challenger_version"] for n in nights if n["challenger_version"]}
    assert len(versions) >= 1
    run = MlflowClient(tracking_uri=mlflow_server).get_run(nights[-1]["run_id"])
    assert run.data.tags["data_hash"] and run.data.params["train_window"]
    assert not (sor_home / "mlflow" / "mlflow.db").exists()  # nothing went to the embedded store
    shutil.rmtree(sor_home / "raw", ignore_errors=True)
