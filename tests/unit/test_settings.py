"""Settings from defaults, environment (SOR_*), and a TOML file; runtime env for Prefect/MLflow."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from sor_pipeline.settings import Settings, apply_runtime_env, runtime_env


def test_defaults_live_under_home(sor_home: Path) -> None:
    s = Settings()
    assert s.home == sor_home.resolve()
    assert s.lake_root == s.home / "lake"
    assert s.resolved_tracking_uri == f"sqlite:///{s.home}/mlflow/mlflow.db"
    assert s.artifact_location.startswith("file://")


def test_environment_overrides(sor_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOR_TRAIN_WINDOW_DAYS", "15")
    monkeypatch.setenv("SOR_GATE_ALPHA", "0.01")
    monkeypatch.setenv("SOR_STATIC_WATERFALL", '["LITA", "DRK1"]')
    monkeypatch.setenv("SOR_TRACKING_URI", "http://127.0.0.1:5555")
    s = Settings()
    assert s.train_window_days == 15 and s.gate_alpha == 0.01
    assert s.static_waterfall == ["LITA", "DRK1"]
    assert s.resolved_tracking_uri == "http://127.0.0.1:5555"


def test_toml_file_and_precedence(sor_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "custom.toml"
    cfg.write_text('train_window_days = 30\nholidays = ["2024-07-04"]\nembargo_days = 2\n')
    monkeypatch.setenv("SOR_CONFIG", str(cfg))
    monkeypatch.setenv("SOR_EMBARGO_DAYS", "3")
    s = Settings()
    assert s.train_window_days == 30
    assert s.holidays == [date(2024, 7, 4)]
    assert s.embargo_days == 3  # environment beats the file


def test_home_toml_is_found(sor_home: Path) -> None:
    sor_home.mkdir(parents=True)
    (sor_home / "sor.toml").write_text("backtest_folds = 3\n")
    assert Settings().backtest_folds == 3


def test_bad_values_rejected(sor_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOR_GATE_ALPHA", "2")
    with pytest.raises(ValueError, match="gate_alpha"):
        Settings()
    monkeypatch.delenv("SOR_GATE_ALPHA")
    monkeypatch.setenv("SOR_CONFIG", "/nonexistent.toml")
    with pytest.raises(FileNotFoundError, match="nonexistent"):
        Settings()


def test_runtime_env_puts_state_under_home(sor_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    env = runtime_env(s)
    assert env["PREFECT_HOME"] == str(s.home / "prefect")
    assert env["DO_NOT_TRACK"] == "true" and env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    for k in env:
        monkeypatch.delenv(k, raising=False)
    apply_runtime_env(s)
    assert os.environ["MLFLOW_TRACKING_URI"] == s.resolved_tracking_uri
    assert s.home.is_dir()


def test_sql_dir_found_from_checkout() -> None:
    from sor_pipeline.resources import sql_dir

    assert sql_dir().is_dir()
