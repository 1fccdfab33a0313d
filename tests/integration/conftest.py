"""Integration tier: Prefect flows under Prefect's test harness (one temporary API per worker)."""

from __future__ import annotations

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
