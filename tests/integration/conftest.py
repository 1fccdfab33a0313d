"""Integration tier: Prefect flows under Prefect's test harness (one temporary API per worker)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples" / "raw"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def samples() -> Path:
    assert SAMPLES.is_dir(), "data_samples/raw is missing: run data_samples/regenerate.sh"
    return SAMPLES


@pytest.fixture()
def env(prefect_harness: None, tmp_path: Path) -> dict[str, str]:
    """SOR_HOME in tmp_path; the commands talk to the harness's Prefect API instead of each starting an
    ephemeral one (35 s each on this machine)."""
    from prefect.settings import PREFECT_API_URL

    out = {k: v for k, v in os.environ.items() if not k.startswith(("SOR_", "PREFECT_"))}
    out.update(SOR_HOME=str(tmp_path / "sor_home"), SOR_PREFECT_API_URL=str(PREFECT_API_URL.value()),
               SOR_BACKTEST_FOLDS="2", SOR_GATE_BOOTSTRAP_SAMPLES="500")
    return out
