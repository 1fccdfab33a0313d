"""One typed settings object for the whole project.

Values come, highest priority first, from: keyword arguments, environment variables with the
``SOR_`` prefix (``SOR_HOME``, ``SOR_TRAIN_WINDOW_DAYS``, ...; nested values as JSON), a TOML file
(``SOR_CONFIG``, else ``$SOR_HOME/sor.toml``, else ``./sor.toml``), then the defaults below.
No other module hard-codes a path or a threshold.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_HOME_NAME = "sor_home"


def _config_file() -> Path | None:
    explicit = os.environ.get("SOR_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"SOR_CONFIG points to {path}, which is not a file")
        return path
    home = os.environ.get("SOR_HOME")
    for candidate in ([Path(home) / "sor.toml"] if home else []) + [Path.cwd() / "sor.toml"]:
        if candidate.is_file():
            return candidate
    return None


class Settings(BaseSettings):
    """Runtime configuration. Units are in the field names (``_days``, ``_bps``, ``_s``)."""

    model_config = SettingsConfigDict(env_prefix="SOR_", extra="ignore", validate_default=True)

    home: Path = Field(default_factory=lambda: Path.cwd() / DEFAULT_HOME_NAME,
                       description="Root of all state: lake, MLflow store, reports, Prefect home.")

    raw_dir: Path | None = Field(None, description="Root of raw drops (<raw_dir>/YYYY-MM-DD/); default home/raw.")
    max_reject_share: float = Field(
        0.05, ge=0, le=1,
        description="Fail the ingest (write nothing) if more than this share of a table's rows is rejected.",
    )

    # --- tracking / orchestration ---------------------------------------------------------------
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default sqlite under home.")
    registry_uri: str | None = Field(None, description="MLflow registry URI; default = tracking URI.")
    experiment_name: str = "sor-nightly"
    model_name: str = Field("sor-router", description="Registered model name the live router loads.")
    champion_alias: str = "champion"
    previous_alias: str = "previous-champion"
    prefect_api_url: str | None = Field(None, description="Prefect server URL; None = ephemeral local API.")
    task_runner: Literal["thread", "dask"] = "thread"
    max_workers: int = Field(2, ge=1, description="Thread task-runner workers (machine has 2 cores).")
    dask_address: str | None = Field(None, description="Dask scheduler address; None = LocalCluster.")
    task_retries: int = Field(2, ge=0)
    task_retry_delay_s: float = Field(2.0, ge=0)

    # --- market / venues ------------------------------------------------------------------------
    static_waterfall: list[str] = Field(
        default_factory=lambda: ["DRK1", "DRK2", "ECNM", "ECNI", "LITA", "LITB"],
        description="Venue order of the static waterfall router (dark, then ECN, then lit).",
    )
    market_timezone: str = "America/New_York"
    holidays: list[date] = Field(default_factory=list, description="Non-trading weekdays (YYYY-MM-DD).")

    # --- features / labels ----------------------------------------------------------------------
    adv_window_days: int = Field(20, ge=1, description="Trailing days for average daily volume.")
    venue_stats_window_days: int = Field(20, ge=1, description="Trailing days for venue fill/markout stats.")
    realized_vol_window_s: int = Field(300, ge=1, description="Realized volatility lookback, seconds.")
    markout_horizons_s: list[float] = Field(default_factory=lambda: [1.0, 5.0, 30.0, 60.0])

    # --- training / backtest / gate -------------------------------------------------------------
    train_window_days: int = Field(20, ge=2, description="Trading days of features used to train.")
    backtest_folds: int = Field(5, ge=1, description="Walk-forward folds: last K trading days.")
    embargo_days: int = Field(
        0, ge=0,
        description="Trading days dropped between train and test. Labels look at most 60 s (plus the order's "
                    "life) past sent_ts, which never crosses the overnight gap, so 0 leaks nothing with daily "
                    "folds; raise it for labels with multi-day horizons.",
    )
    gate_alpha: float = Field(0.05, gt=0, lt=1, description="One-sided significance level of the gate.")
    gate_min_margin_bps: float = Field(0.0, ge=0, description="Required cost improvement, bps per order.")
    gate_max_venue_mae_ratio: float = Field(
        1.25, ge=1.0, description="Reject if any venue's slippage MAE exceeds the champion's by this ratio."
    )
    gate_bootstrap_samples: int = Field(2000, ge=100)
    sandbox_enabled: bool = Field(True, description="Route a simulated day with the challenger before promoting.")
    sandbox_symbols: int = Field(5, ge=1, description="Symbols of the sandbox's simulated day.")
    sandbox_tolerance_bps: float = Field(
        0.0, ge=0, description="The challenger may cost at most this much more than the champion in the sandbox.")
    seed: int = 7

    # --- schedule -------------------------------------------------------------------------------
    schedule_cron: str = Field("30 18 * * 1-5", description="Nightly cron, in market_timezone.")

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # --- derived locations (the only place paths are composed besides the lake) -----------------
    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    @property
    def raw_root(self) -> Path:
        return (self.raw_dir or self.home / "raw").expanduser().resolve()

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def resolved_tracking_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.mlflow_dir / 'mlflow.db').as_posix()}"

    @property
    def artifact_location(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()


def runtime_env(settings: Settings) -> dict[str, str]:
    """Environment the stack needs (STACK-NOTES): state under SOR_HOME, telemetry off, timeouts."""
    env = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
    }
    if settings.prefect_api_url:
        env["PREFECT_API_URL"] = settings.prefect_api_url
    return env


def apply_runtime_env(settings: Settings) -> None:
    """Export :func:`runtime_env` into ``os.environ``; call before importing Prefect or MLflow."""
    os.environ.update(runtime_env(settings))
    settings.home.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached). Tests build their own ``Settings(...)`` instead."""
    return Settings()


def settings_summary(settings: Settings) -> dict[str, Any]:
    return settings.model_dump(mode="json")
