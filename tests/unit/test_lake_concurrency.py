"""Concurrent writers of different dates (a Dask backfill's workers): staging/trash entries name their
machine, a recovery leaves another machine's live entries alone, empty staging folders removed by one
writer never break another's write, and the lake's DuckDB connections take the pinned thread count."""

from __future__ import annotations

import multiprocessing
import os
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.threads import DUCKDB_ENV, DUCKDB_MEMORY_ENV, duckdb_config, worker_env
from sor_pipeline.storage import lake as lake_mod
from sor_pipeline.storage.lake import Lake

DAY = date(2024, 3, 8)


def test_tokens_name_this_machine_and_process() -> None:
    token = lake_mod._new_token()
    lake_mod._LIVE.discard(token)
    m = lake_mod._OWNER.search(f"date={DAY.isoformat()}.{token}")
    assert m is not None and m.group(0) == token
    assert m.group(1) == lake_mod._HOST and int(m.group(2)) == os.getpid()


def test_another_machines_entry_is_left_alone_until_it_is_old(tmp_path: Path) -> None:
    Lake(tmp_path)
    other = tmp_path / ".staging" / "fills" / f"date={DAY.isoformat()}.other-node@{os.getpid()}-0123456789ab"
    other.mkdir(parents=True)
    (other / "part-00000.parquet").write_bytes(b"x")
    Lake(tmp_path)  # its pid may exist here or not: it says nothing about a writer on another machine
    assert (other / "part-00000.parquet").is_file()
    old = time.time() - lake_mod.FOREIGN_STALE_S - 60
    os.utime(other, (old, old))
    Lake(tmp_path)
    assert not (tmp_path / ".staging").exists()


def _write_days(root: str, first: int, n: int, rounds: int) -> None:
    lake = Lake(root)
    for r in range(rounds):  # a second round replaces each partition: its old one goes through .trash
        for i in range(first, first + n):
            day = date(2024, 1, 1) + timedelta(days=i)
            lake.replace_partition("features", day, pl.DataFrame({"x": [i, r]}))


def test_writers_of_different_dates_in_several_processes(tmp_path: Path) -> None:
    """Four processes write and replace partitions of one dataset, each its own dates: every partition
    lands with its last content, and nothing is left in staging or trash."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_days, args=(str(tmp_path), 25 * k, 25, 2)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    lake = Lake(tmp_path)
    days = lake.dates("features")
    assert len(days) == 100
    assert all(lake.read_day("features", d)["x"].to_list()[1] == 1 for d in days[::7])
    assert not (tmp_path / ".staging").exists() and not (tmp_path / ".trash").exists()


def test_makedirs_survives_a_parent_removed_in_between(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer's cleanup removes the empty ``.staging/<name>`` right after it was made."""
    real_mkdir = Path.mkdir
    removed: list[Path] = []

    def racing_mkdir(self: Path, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        real_mkdir(self, mode, parents, exist_ok)
        if self.name == "features" and not removed:  # the parent, just made: gone again at once
            removed.append(self)
            self.rmdir()

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    leaf = tmp_path / ".staging" / "features" / "date=2024-03-08.x"
    lake_mod._makedirs(leaf)
    assert leaf.is_dir() and removed


def test_duckdb_threads_follow_the_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DUCKDB_ENV, "1")
    assert duckdb_config() == {"threads": 1}
    con = Lake(tmp_path).duckdb()
    assert con.execute("select current_setting('threads')").fetchone() == (1,)
    monkeypatch.delenv(DUCKDB_ENV)
    assert duckdb_config() == {}
    assert worker_env(3) == {"POLARS_MAX_THREADS": "3", DUCKDB_ENV: "3", "OMP_NUM_THREADS": "1"}
    assert int(worker_env()["POLARS_MAX_THREADS"]) == pl.thread_pool_size()


def test_duckdb_memory_limit_spills_and_gives_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DUCKDB_ENV, raising=False)
    monkeypatch.setenv(DUCKDB_MEMORY_ENV, "64MB")
    cfg = duckdb_config()
    assert cfg["memory_limit"] == "64MB" and cfg["temp_directory"].endswith("sor-duckdb-spill")
    con = Lake(tmp_path).duckdb()
    assert con.execute("select current_setting('memory_limit')").fetchone()[0].startswith("61")  # 64 MB in MiB
    sql = "select i % 1000 as k, sum(i) as s from range(3000000) t(i) group by k order by k"
    limited = con.execute(sql).fetchall()
    monkeypatch.delenv(DUCKDB_MEMORY_ENV)
    assert duckdb_config() == {}
    assert Lake(tmp_path).duckdb().execute(sql).fetchall() == limited
