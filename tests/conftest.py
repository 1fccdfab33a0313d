"""Shared fixtures. Every test gets its own SOR_HOME under tmp_path (no state leaks between tests)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.settings import Settings, apply_runtime_env, get_settings

REAL_DATA_ENV = "SOR_REAL_DATA"


@pytest.fixture(autouse=True, scope="session")
def _router_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compile the router's tree kernel once per session into pytest's temp dir, never into a checkout."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SOR_ROUTER_CACHE", str(tmp_path_factory.getbasetemp() / "router_cache"))
    yield
    mp.undo()


@pytest.fixture()
def sor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "sor_home"
    monkeypatch.setenv("SOR_HOME", str(home))
    monkeypatch.delenv("SOR_CONFIG", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture()
def settings(sor_home: Path) -> Settings:
    s = Settings()
    apply_runtime_env(s)
    return s


@pytest.fixture()
def real_data() -> Path:
    """Folder of real public market data (../shared/data/real), or skip saying why."""
    value = os.environ.get(REAL_DATA_ENV)
    if not value:
        pytest.skip(f"{REAL_DATA_ENV} is not set: real-data tests need ../shared/data/real")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"{REAL_DATA_ENV}={path} does not exist")
    return path


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def ts_series(values: list[datetime | None], name: str = "ts") -> pl.Series:
    return pl.Series(name, values, dtype=pl.Datetime("us", "UTC")).cast(pl.Datetime("ns", "UTC"))


DAY = date(2024, 3, 5)
