"""A deterministic production router logs no propensities: the data_samples days with the propensity
removed from every format (CSV/JSON column emptied, FIX tag 20004 dropped). The nightly ingests, trains
and reports; no off-policy verdict is possible, so the night's decision is "inconclusive, nothing
promoted", and the summary, MLflow and the report say why and name the remedy."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.faults import FAULT_ENV
from sor_pipeline.config.settings import Settings, get_settings
from sor_pipeline.ingest.fix_codec import SOH, encode_message
from sor_pipeline.learning.gate import NO_PROPENSITY_REMEDY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAYS = [date(2024, 3, d) for d in (4, 5, 6, 7, 8)]


def _drop_propensities(day_dir: Path) -> None:
    for path in day_dir.iterdir():
        if path.name == "child_orders.csv":
            pl.read_csv(path, infer_schema=False).with_columns(pl.lit(None, pl.String).alias("propensity")
                                                             ).write_csv(path)
        elif path.name == "child_orders.jsonl":
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            path.write_text("".join(json.dumps({**r, "propensity": None}) + "\n" for r in rows))
        elif path.name == "exec_fix.log":
            out = []
            for line in path.read_text().splitlines():
                parts = [p.split("=", 1) for p in line.rstrip(SOH).split(SOH)]
                out.append(encode_message(parts[0][1], [(t, v) for t, v in parts
                                                        if t not in ("8", "9", "10", "20004")]))
            path.write_text("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.integration.conftest import SAMPLES

    root = tmp_path_factory.mktemp("raw")
    for d in DAYS:
        shutil.copytree(SAMPLES / d.isoformat(), root / d.isoformat())
        _drop_propensities(root / d.isoformat())
    return root


def test_nightly_without_propensities(prefect_harness: None, sor_home: Path, raw: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.nightly import nightly_flow
    from sor_pipeline.features import write_features
    from sor_pipeline.ingest.day import ingest_day
    from sor_pipeline.storage import registry
    from sor_pipeline.storage.lake import Lake
    from sor_pipeline.tca.run import run_tca

    monkeypatch.setenv("SOR_BACKTEST_FOLDS", "2")
    monkeypatch.delenv(FAULT_ENV, raising=False)
    get_settings.cache_clear()
    settings: Settings = get_settings()
    lake = Lake(settings.lake_root)
    for d in DAYS[:-1]:
        ingest_day(d, raw, lake, settings)
        write_features(d, lake, settings)
        run_tca(d, lake)
    assert lake.read("child_orders", DAYS[:-1]).select(pl.col("propensity").is_null().all()).collect().item()

    out = nightly_flow(DAYS[-1], str(raw))
    assert out["rows"]["child_orders"]["quarantined"] == 0
    assert out["challenger_version"] == "1"  # trained and registered
    assert out["action"] == "inconclusive" and out["verdict"] == "inconclusive" and not out["promoted"]
    assert out["cost_source"] == "none"
    assert any(NO_PROPENSITY_REMEDY in r for r in out["reasons"]), out["reasons"]
    assert registry.champion_version(settings) is None
    tags = registry.version_tags(settings, "1")
    assert tags["gate_verdict"] == "inconclusive" and "router.explore" in tags["gate_reasons"]
    html = Path(out["report_html"]).read_text()
    assert Path(out["report_pdf"]).is_file() and "router.explore" in html
