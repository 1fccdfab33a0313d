"""Settings from defaults, environment (SOR_*), and a TOML file; runtime env for Prefect/MLflow."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from sor_pipeline.config.settings import Settings, apply_runtime_env, runtime_env


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
    assert s.train.window_days == 15 and s.gate.alpha == 0.01
    assert s.router.static_waterfall == ["LITA", "DRK1"]
    assert s.resolved_tracking_uri == "http://127.0.0.1:5555"


def test_toml_file_and_precedence(sor_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "custom.toml"
    cfg.write_text('train_window_days = 30\nholidays = ["2024-07-04"]\nembargo_days = 2\n')
    monkeypatch.setenv("SOR_CONFIG", str(cfg))
    monkeypatch.setenv("SOR_EMBARGO_DAYS", "3")
    s = Settings()
    assert s.train.window_days == 30
    assert s.market.holidays == [date(2024, 7, 4)]
    assert s.backtest.embargo_days == 3  # environment beats the file


def test_home_toml_is_found(sor_home: Path) -> None:
    sor_home.mkdir(parents=True)
    (sor_home / "sor.toml").write_text("backtest_folds = 3\n")
    assert Settings().backtest.folds == 3


def test_bad_values_rejected(sor_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOR_GATE_ALPHA", "2")
    with pytest.raises(ValueError, match=r"gate\.alpha"):
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
    from sor_pipeline.storage.sql import sql_dir

    assert sql_dir().is_dir()


#: Every SOR_* variable the README documents, a value, and where it lands in the nested Settings.
README_ENV = [
    ("SOR_HOME", "/tmp/sor-x", lambda s: str(s.home), "/tmp/sor-x"),
    ("SOR_RAW_DIR", "/tmp/raw-x", lambda s: str(s.raw_root), "/tmp/raw-x"),
    ("SOR_MAX_REJECT_SHARE", "0.2", lambda s: s.ingest.max_reject_share, 0.2),
    ("SOR_INGEST_CHUNK_ROWS", "5000", lambda s: s.ingest.chunk_rows, 5000),
    ("SOR_TRACKING_URI", "http://h:1", lambda s: s.mlflow.tracking_uri, "http://h:1"),
    ("SOR_PREFECT_API_URL", "http://h:2/api", lambda s: s.orchestration.prefect_api_url, "http://h:2/api"),
    ("SOR_TASK_RUNNER", "dask", lambda s: s.orchestration.task_runner, "dask"),
    ("SOR_MAX_WORKERS", "3", lambda s: s.orchestration.max_workers, 3),
    ("SOR_DASK_ADDRESS", "tcp://h:8786", lambda s: s.orchestration.dask_address, "tcp://h:8786"),
    ("SOR_COMPUTE_THREADS", "3", lambda s: s.orchestration.compute_threads, 3),
    ("SOR_SCHEDULE_CRON", "0 19 * * 1-5", lambda s: s.orchestration.schedule_cron, "0 19 * * 1-5"),
    ("SOR_STATIC_WATERFALL", '["LITA"]', lambda s: s.router.static_waterfall, ["LITA"]),
    ("SOR_MARKET_TIMEZONE", "Europe/London", lambda s: s.market.timezone, "Europe/London"),
    ("SOR_HOLIDAYS", '["2024-07-04"]', lambda s: s.market.holidays, [date(2024, 7, 4)]),
    ("SOR_TRAIN_WINDOW_DAYS", "9", lambda s: s.train.window_days, 9),
    ("SOR_BACKTEST_FOLDS", "4", lambda s: s.backtest.folds, 4),
    ("SOR_EMBARGO_DAYS", "1", lambda s: s.backtest.embargo_days, 1),
    ("SOR_GATE_ALPHA", "0.1", lambda s: s.gate.alpha, 0.1),
    ("SOR_GATE_MIN_MARGIN_BPS", "0.3", lambda s: s.gate.min_margin_bps, 0.3),
    ("SOR_GATE_MAX_VENUE_MAE_RATIO", "1.5", lambda s: s.gate.max_venue_mae_ratio, 1.5),
    ("SOR_SANDBOX_ENABLED", "false", lambda s: s.sandbox.enabled, False),
    ("SOR_SANDBOX_TOLERANCE_BPS", "0.2", lambda s: s.sandbox.tolerance_bps, 0.2),
    ("SOR_MONITOR_ALERT_WEBHOOK_URL", "http://h:3/hook", lambda s: s.monitor.alert_webhook_url, "http://h:3/hook"),
    ("SOR_MONITOR_QUOTE_GAP_S", "120", lambda s: s.monitor.quote_gap_s, 120.0),
    ("SOR_MONITOR_QUOTE_GAP_MARGIN", "3", lambda s: s.monitor.quote_gap_margin, 3.0),
    ("SOR_MONITOR_QUOTE_GAP_MIN_S", "30", lambda s: s.monitor.quote_gap_min_s, 30.0),
    ("SOR_MONITOR_QUOTE_GAP_MIN_HISTORY", "5", lambda s: s.monitor.quote_gap_min_history, 5),
    ("SOR_MONITOR_QUOTE_GAP_RECOMPUTE_DAYS", "2", lambda s: s.monitor.quote_gap_recompute_days, 2),
    ("SOR_MONITOR_PSI_CALIBRATION_QUANTILE", "0.95", lambda s: s.monitor.psi_calibration_quantile, 0.95),
    ("SOR_MONITOR_PSI_CALIBRATION_MIN_DAYS", "5", lambda s: s.monitor.psi_calibration_min_days, 5),
    ("SOR_MONITOR_PSI_WARN", "0.2", lambda s: s.monitor.psi_warn, 0.2),
    ("SOR_GATE__MIN_ESS", "500", lambda s: s.gate.min_ess, 500.0),
    ("SOR_GATE_MAX_IMPORTANCE_WEIGHT", "20", lambda s: s.gate.max_importance_weight, 20.0),
    ("SOR_ROUTER_EXPLORE_TEMPERATURE_BPS", "0.7", lambda s: s.router.explore_temperature_bps, 0.7),
    ("SOR_ROUTER_EXPLORE_FLOOR", "0.05", lambda s: s.router.explore_floor, 0.05),
    ("SOR_ROUTER_EXPLORE_STATIC_SHARE", "0.2", lambda s: s.router.explore_static_share, 0.2),
    ("SOR_BACKTEST_FOLD_CACHE", "false", lambda s: s.backtest.fold_cache, False),
    ("SOR_BACKTEST_MAX_DECISIONS_PER_DAY", "80000", lambda s: s.backtest.max_decisions_per_day, 80000),
    ("SOR_BACKTEST_MAX_DECISIONS_PER_DAY", "none", lambda s: s.backtest.max_decisions_per_day, None),
    ("SOR_BACKTEST_INTRADAY_FOLD", "false", lambda s: s.backtest.intraday_fold, False),
    ("SOR_BACKTEST_INTRADAY_MORNING_SHARE", "0.4", lambda s: s.backtest.intraday_morning_share, 0.4),
    ("SOR_TRAIN_SAMPLE_CAP_PER_DAY_VENUE", "500", lambda s: s.train.sample_cap_per_day_venue, 500),
    ("SOR_TRAIN_SAMPLE_CAP_PER_DAY_VENUE", "0", lambda s: s.train.sample_cap_per_day_venue, None),
    ("SOR_ROUTER_EXPLORE_STATIC_EPSILON", "0.2", lambda s: s.router.explore_static_epsilon, 0.2),
    ("SOR_TRAIN_SCOUT_MIN_DAYS", "0", lambda s: s.train.scout_min_days, 0),
    ("SOR_BACKTEST_MIN_FOLDS", "4", lambda s: s.backtest.min_folds, 4),
    ("SOR_INGEST_MAPPING", "/desk/oms.toml", lambda s: s.ingest.mapping, Path("/desk/oms.toml")),
    ("SOR_INGEST_FIX_TAGS", '{"propensity": 7004}', lambda s: s.ingest.fix_tags, {"propensity": 7004}),
    ("SOR_MARKET_CALENDAR", "XLON", lambda s: s.market.calendar, "XLON"),
    ("SOR_INGEST_VENUES", "/desk/venues.csv", lambda s: s.ingest.venues, Path("/desk/venues.csv")),
    ("SOR_SANDBOX_MAX_REQUESTS", "200", lambda s: s.sandbox.max_requests, 200),
]


@pytest.mark.parametrize(("name", "value", "get", "want"), README_ENV, ids=[r[0] for r in README_ENV])
def test_every_documented_variable_lands_in_its_section(name: str, value: str, get, want,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    assert get(Settings()) == want
    monkeypatch.delenv(name)
    assert get(Settings()) != want  # the default differs, so the variable did the work


def test_readme_documents_no_variable_the_settings_ignore() -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    documented = set(re.findall(r"\bSOR_[A-Z][A-Z0-9_]*[A-Z0-9]\b", readme))
    known = {r[0] for r in README_ENV} | {"SOR_CONFIG", "SOR_INJECT_FAULT", "SOR_PAUSE_AT", "SOR_PAUSE_DIR",
                                          "SOR_REAL_DATA", "SOR_ROUTER_CACHE", "SOR_DUCKDB_THREADS",
                                          "SOR_DUCKDB_MEMORY_LIMIT",  # test_lake_concurrency
                                          "SOR_XGBOOST_DASK",  # needs a cluster address: test_scale_out
                                          "SOR_ROUTER_CFLAGS"}
    assert documented <= known, f"README variables with no test: {sorted(documented - known)}"


def test_sections_in_toml_keywords_and_flat_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "sor.toml"
    cfg.write_text('[gate]\nalpha = 0.02\n[monitor]\npsi_warn = 0.3\n[train]\nwindow_days = 7\n')
    monkeypatch.setenv("SOR_CONFIG", str(cfg))
    s = Settings()
    assert (s.gate.alpha, s.monitor.psi_warn, s.train.window_days) == (0.02, 0.3, 7)
    assert s.gate.min_margin_bps == 0.0  # a partial table keeps the section's other defaults
    monkeypatch.setenv("SOR_GATE_ALPHA", "0.03")  # environment beats the file, field by field
    assert Settings().gate.alpha == 0.03 and Settings().train.window_days == 7
    k = Settings(gate_alpha=0.04, monitor={"psi_warn": 0.2})
    assert k.gate.alpha == 0.04 and k.monitor.psi_warn == 0.2
    assert k.with_overrides(train_window_days=5).train.window_days == 5


def test_unknown_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="alphaa"):
        Settings(gate={"alphaa": 0.1})
    with pytest.raises(ValueError, match="gate_alphaa"):
        Settings(gate_alphaa=0.1)
