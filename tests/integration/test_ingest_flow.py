"""The ingest flow on data_samples: all formats, idempotent re-runs, broken drops fail cleanly."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.ingest.day import IngestError
from sor_pipeline.storage.lake import Lake

pytestmark = pytest.mark.integration

DAYS = [date(2024, 3, d) for d in (4, 5, 6, 7, 8)]
TABLES = ["venues", "parent_orders", "child_orders", "fills", "quotes", "depth", "trades", "nbbo", "sim_oracle"]


def _lake_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet")) if "quarantine" not in p.parts}


def test_ingest_every_format_and_rerun_is_idempotent(prefect_harness: None, settings: Settings,
                                                     samples: Path) -> None:
    from flows.ingest import ingest_flow

    out = ingest_flow(DAYS[0], DAYS[-1], str(samples))
    assert [o["date"] for o in out] == [d.isoformat() for d in DAYS]
    lake = Lake(settings.lake_root)
    for summary in out:
        for table in TABLES:
            t = summary["tables"][table]
            assert t["read"] == t["written"] > 0 and t["quarantined"] == 0, (summary["date"], table, t)
    # FIX day (2024-03-06) yields the same shape of tables as the CSV day
    fix_day = lake.read_day("child_orders", DAYS[2])
    csv_day = lake.read_day("child_orders", DAYS[0])
    assert fix_day.schema == csv_day.schema and fix_day.height > 100
    before = _lake_digest(settings.lake_root)
    counts = {t: lake.read(t).collect().height for t in TABLES}
    ingest_flow(DAYS[1], DAYS[1], str(samples))
    ingest_flow(DAYS[1], DAYS[1], str(samples))  # cached or not, the lake must be identical
    assert _lake_digest(settings.lake_root) == before
    assert {t: lake.read(t).collect().height for t in TABLES} == counts


def test_broken_drop_names_file_and_leaves_lake(prefect_harness: None, settings: Settings, samples: Path,
                                                tmp_path: Path) -> None:
    from flows.ingest import ingest_flow

    raw = tmp_path / "raw"
    shutil.copytree(samples / "2024-03-04", raw / "2024-03-04")
    ingest_flow(DAYS[0], DAYS[0], str(raw))
    before = _lake_digest(settings.lake_root)
    # fills that belong to no child order: the tables disagree
    fills = raw / "2024-03-04" / "fills.csv"
    df = pl.read_csv(fills, infer_schema=False)
    df.with_columns(pl.lit("GHOST").alias("child_id")).write_csv(fills)
    with pytest.raises(IngestError, match=r"fills\.csv.*fill for unknown child order"):
        ingest_flow(DAYS[0], DAYS[0], str(raw))
    assert _lake_digest(settings.lake_root) == before
    shutil.copy(samples / "2024-03-04" / "fills.csv", fills)
    # the last table breaks after quotes, their NBBO and depth were validated and staged: still nothing lands
    trades = raw / "2024-03-04" / "trades.parquet"
    pl.read_parquet(trades).with_columns(pl.col("qty") * -1).write_parquet(trades)
    with pytest.raises(IngestError, match=r"trades: .* rows rejected .*trades\.parquet"):
        ingest_flow(DAYS[0], DAYS[0], str(raw))
    assert _lake_digest(settings.lake_root) == before
    assert not list((settings.lake_root / ".staging").rglob("*.parquet"))  # staged tables were dropped


def test_missing_and_empty_drop_fail_with_path(prefect_harness: None, settings: Settings, tmp_path: Path) -> None:
    from flows.ingest import ingest_flow
    from sor_pipeline.ingest.base import DropError

    with pytest.raises(IngestError, match="2024-03-04"):
        ingest_flow(DAYS[0], DAYS[0], str(tmp_path / "nowhere"))
    (tmp_path / "raw" / "2024-03-04").mkdir(parents=True)
    with pytest.raises(DropError, match="2024-03-04"):
        ingest_flow(DAYS[0], DAYS[0], str(tmp_path / "raw"))
