"""Issue 17 (reliability), the parts below the flows: the per-date run lock (a second run of a date is
refused with "already running (pid N, since T)", a killed holder does not block), the pause points
that land a kill deterministically, quote-safe MLflow searches with hostile strings, and the closing of
runs left RUNNING by a killed night."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from sor_pipeline.config.faults import PAUSE_DIR_ENV, PAUSE_ENV, FaultConfigError, maybe_pause
from sor_pipeline.config.settings import Settings
from sor_pipeline.storage.locks import AlreadyRunning, date_lock, lock_path

DAY = date(2024, 3, 8)
HOSTILE = ["it's", 'say "hi"', "both ' and \"", "x' or name='sor-router", '2024-03-08" or "1"="1', "a`b", "%_\\"]

HOLDER = """
import sys, time
from datetime import date
from pathlib import Path
from sor_pipeline.config.settings import Settings
from sor_pipeline.storage.locks import date_lock
with date_lock(Settings(home=Path(sys.argv[1])), date.fromisoformat(sys.argv[2]), "nightly"):
    print("held", flush=True)
    time.sleep(600)
"""


def _hold(home: Path, day: date) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(home), day.isoformat()], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_of_a_date_is_refused_and_a_killed_holder_does_not_block(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    holder = _hold(tmp_path, DAY)
    try:
        with pytest.raises(AlreadyRunning) as err, date_lock(settings, DAY, "ingest"):
            pass
        msg = str(err.value)
        assert re.search(rf"^ingest {DAY}: already running \(pid {holder.pid}, since \d{{4}}-\d\d-\d\dT[\d:]+Z\) "
                         rf"as 'nightly'; lock {re.escape(str(lock_path(settings, DAY)))}$", msg), msg
        with date_lock(settings, date(2024, 3, 7), "nightly"):  # another date: never waits for this one
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with date_lock(settings, DAY, "nightly") as path:  # the kernel released the dead holder's lock
        assert f"pid {os.getpid()}," in path.read_text()
        with date_lock(settings, DAY, "ingest"):  # re-entrant in one process (a nightly's own ingest)
            pass


def test_pause_point_waits_for_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PAUSE_ENV, "lake-publish:2")
    monkeypatch.setenv(PAUSE_DIR_ENV, str(tmp_path))
    maybe_pause("features")  # another point: no pause
    maybe_pause("lake-publish")  # the first time: no pause
    done = threading.Event()
    t = threading.Thread(target=lambda: (maybe_pause("lake-publish"), done.set()))
    t.start()
    deadline = time.monotonic() + 10
    while not (tmp_path / "lake-publish.paused").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (tmp_path / "lake-publish.paused").read_text() == str(os.getpid())
    assert not done.wait(0.2)  # still paused
    (tmp_path / "lake-publish.resume").touch()
    t.join(10)
    assert done.is_set()
    monkeypatch.setenv(PAUSE_ENV, "retrian")
    with pytest.raises(FaultConfigError, match="unknown point 'retrian'"):
        maybe_pause("retrain")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One MLflow store for the module (creating a sqlite store costs ~10 s of migrations)."""
    return Settings(home=tmp_path_factory.mktemp("store") / "home")


def test_quote_literal_never_lets_a_value_out_of_its_string() -> None:
    from mlflow.utils.search_utils import SearchUtils

    from sor_pipeline.storage.registry import quote_literal

    for value in HOSTILE:
        literal = quote_literal(value)
        if literal is None:
            assert "'" in value and '"' in value
            continue
        parsed = SearchUtils.parse_search_filter(f"tags.k = {literal}")
        assert parsed == [{"type": "tag", "key": "k", "comparator": "=", "value": value}]


def test_searches_with_hostile_strings_match_exactly(store: Settings) -> None:
    from sor_pipeline.storage import registry

    client = registry.configure(store)
    exp = client.get_experiment_by_name(store.mlflow.experiment_name)
    assert exp is not None
    ids = {}
    for value in [*HOSTILE, "plain"]:
        run = client.create_run(exp.experiment_id, tags={"run_key": value})
        client.set_terminated(run.info.run_id)
        ids[value] = run.info.run_id
    client.create_registered_model(store.mlflow.model_name)
    for value in [*HOSTILE, "plain"]:  # one version per hostile run key (a bare version: no model files)
        mv = client.create_model_version(store.mlflow.model_name, f"runs:/{ids[value]}/m", run_id=ids[value],
                                         tags={"run_key": value, "day": value})
        ids[f"v:{value}"] = str(mv.version)
    for value in [*HOSTILE, "plain"]:
        assert [r.info.run_id for r in registry.search_runs(store, {"run_key": value})] == [ids[value]]
        assert registry.find_version(store, "run_key", value) == ids[f"v:{value}"]
    assert registry.find_version(store, "run_key", "x") is None
    assert len(registry.judged_nights(store)) == len(HOSTILE) + 1


def test_a_killed_nights_running_runs_are_closed_and_superseded(store: Settings) -> None:
    from sor_pipeline.storage import registry

    client = registry.configure(store)
    exp = client.get_experiment_by_name(store.mlflow.experiment_name)
    assert exp is not None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        key = "2024-03-08:abc'\"def"
        tags = {"run_key": key, registry.HOST_TAG: os.uname().nodename}
        killed = client.create_run(exp.experiment_id, tags={**tags, registry.PID_TAG: str(dead.pid)})
        child = client.create_run(exp.experiment_id, tags={"mlflow.parentRunId": killed.info.run_id})
        running = client.create_run(exp.experiment_id, tags={**tags, "run_key": "other",
                                                             registry.PID_TAG: str(dead.pid)})
        alive = client.create_run(exp.experiment_id, tags={**tags, registry.PID_TAG: str(live.pid)})
        unregistered = client.create_run(exp.experiment_id, tags={**tags, registry.PID_TAG: str(dead.pid)})
        client.set_terminated(unregistered.info.run_id)  # finished, killed before its version was registered
        with registry.parent_run(store, "retrain-2024-03-08", {"run_key": key}) as new_id:
            pass
        assert client.get_run(killed.info.run_id).info.status == "KILLED"
        assert "process running it died" in client.get_run(killed.info.run_id).data.tags[registry.CLOSED_TAG]
        assert client.get_run(child.info.run_id).info.status == "KILLED"  # its venue run too
        assert client.get_run(running.info.run_id).info.status == "RUNNING"  # another run key: untouched
        assert client.get_run(alive.info.run_id).info.status == "RUNNING"  # its process lives: untouched
        assert client.get_run(unregistered.info.run_id).info.status == "KILLED"
        new = client.get_run(new_id)
        assert new.info.status == "FINISHED"
        assert set(new.data.tags[registry.SUPERSEDES_TAG].split(",")) == {killed.info.run_id,
                                                                          unregistered.info.run_id}
        assert new.data.tags[registry.PID_TAG] == str(os.getpid())
    finally:
        live.kill()
        live.wait()
