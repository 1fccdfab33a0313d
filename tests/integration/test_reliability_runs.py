"""Issue 17 (reliability) with the real console command in subprocesses: kill -9 landed at pause points
(``SOR_PAUSE_AT``, :func:`sor_pipeline.config.faults.maybe_pause`), concurrent runs, stores made
unavailable mid-night. After recovery the lake must be byte-identical to an uninterrupted run's, the
registry must hold one version per night, MLflow one FINISHED parent run per night (the killed one
KILLED, none RUNNING), and no champion may have moved that an uninterrupted night would not move.

Default suite: the date lock between real processes, one kill inside an ingest's lake write with a
concurrent lake-opening command, and one night killed at every stage boundary in turn (each re-run
resuming the last) then finished. Marked slow: each nightly kill point in a fresh home, two full nightlies of one date,
a report while the nightly runs, and the MLflow store / lake made unavailable mid-night.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sor_pipeline.storage.locks import EXIT_ALREADY_RUNNING

pytestmark = pytest.mark.integration
HISTORY = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"]
NIGHT = "2024-03-08"


def _cmd(env: dict[str, str], *args: str) -> list[str]:
    return [sys.executable, "-m", "sor_pipeline.cli", *args]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cmd(env, *args), capture_output=True, text=True, timeout=900, env=env)


def _start_paused(env: dict[str, str], point: str, pause_dir: Path, *args: str) -> subprocess.Popen[str]:
    """The command started with a pause at ``point``; returns once it is paused there."""
    name = point.split(":")[0]
    penv = {**env, "SOR_PAUSE_AT": point, "SOR_PAUSE_DIR": str(pause_dir)}
    proc = subprocess.Popen(_cmd(penv, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=penv)
    deadline = time.monotonic() + 600
    while not (pause_dir / f"{name}.paused").exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"{args} ended (exit {proc.returncode}) before pausing at {point}:\n{err[-3000:]}")
        assert time.monotonic() < deadline, f"{args} never reached {point}"
        time.sleep(0.1)
    assert int((pause_dir / f"{name}.paused").read_text()) == proc.pid
    return proc


def _kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def lake_digest(root: Path) -> dict[str, str]:
    """sha256 of every Parquet file (quarantine rows carry the time they were made: left out)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet")) if "quarantine" not in p.parts}


def _leftovers(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.name in (".staging", ".trash")]


def _home(env: dict[str, str], home: Path) -> dict[str, str]:
    return {**env, "SOR_HOME": str(home)}


# --------------------------------------------------------------------------------------------------
# default suite
def test_second_run_of_a_date_exits_already_running(env: dict[str, str], samples: Path, tmp_path: Path) -> None:
    first = _start_paused(env, "registry", tmp_path / "pause", "nightly", "--date", NIGHT, "--raw", str(samples))
    try:
        for args in (("nightly", "--date", NIGHT, "--raw", str(samples)), ("ingest", "--date", NIGHT)):
            second = _run(env, *args)
            assert second.returncode == EXIT_ALREADY_RUNNING, second.stderr[-2000:]
            errors = _error_lines(second.stderr)
            assert len(errors) == 1 and re.match(
                rf"error: {args[0]} {NIGHT}: already running \(pid {first.pid}, since [0-9T:-]+Z\) as 'nightly'",
                errors[0]), second.stderr
    finally:
        _kill9(first)
    # the killed holder's lock went with it: the date can be locked again at once
    from datetime import date

    from sor_pipeline.config.settings import Settings
    from sor_pipeline.storage.locks import date_lock

    with date_lock(Settings(home=Path(env["SOR_HOME"])), date.fromisoformat(NIGHT), "nightly"):
        pass


def test_kill_inside_an_ingest_write_recovers_the_old_partition(env: dict[str, str], samples: Path,
                                                               tmp_path: Path) -> None:
    root = Path(env["SOR_HOME"]) / "lake"
    assert _run(env, "ingest", "--date", NIGHT, "--raw", str(samples)).returncode == 0
    before = lake_digest(root)
    raw2 = tmp_path / "raw2"
    shutil.copytree(samples / NIGHT, raw2 / NIGHT)
    (raw2 / NIGHT / "fills.jsonl").write_text(  # a second drop of the day that differs: one fill less
        "\n".join((samples / NIGHT / "fills.jsonl").read_text().splitlines()[:-1]) + "\n")
    # the second drop's ingest is killed while replacing its third partition (the old one moved to
    # trash, the new one staged, not yet in place)
    proc = _start_paused(env, "lake-publish:3", tmp_path / "pause", "ingest", "--date", NIGHT, "--raw", str(raw2))
    try:
        # another command opens the lake meanwhile: its recovery must leave the live writer alone
        lake = _run(env, "lake", "--json")
        assert lake.returncode == 0, lake.stderr[-2000:]
        assert _leftovers(root)  # the paused writer's trash and staging are still there
    finally:
        _kill9(proc)
    again = _run(env, "lake", "--json")  # the next open recovers the dead writer's partition
    assert again.returncode == 0, again.stderr[-2000:]
    assert lake_digest(root) == before and _leftovers(root) == []


@pytest.mark.slow
def test_ingest_killed_then_rerun_equals_an_uninterrupted_ingest(env: dict[str, str], samples: Path,
                                                                tmp_path: Path) -> None:
    ref_env, kill_env = _home(env, tmp_path / "ref"), _home(env, tmp_path / "killed")
    assert _run(ref_env, "ingest", "--date", NIGHT, "--raw", str(samples)).returncode == 0
    for point in ("ingest", "lake-publish:1", "lake-publish:6"):
        proc = _start_paused(kill_env, point, tmp_path / f"pause-{point}", "ingest", "--date", NIGHT,
                             "--raw", str(samples))
        _kill9(proc)
    assert _run(kill_env, "ingest", "--date", NIGHT, "--raw", str(samples)).returncode == 0
    assert lake_digest(tmp_path / "killed" / "lake") == lake_digest(tmp_path / "ref" / "lake")
    assert _leftovers(tmp_path / "killed" / "lake") == []


# --------------------------------------------------------------------------------------------------
# whole nights: the chain of kills in the default suite, the rest slow
@pytest.fixture(scope="module")
def history_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SOR_HOME whose lake holds the four history days (ingested, featured, TCA'd by plain calls)."""
    from sor_pipeline.config.settings import Settings
    from sor_pipeline.features import write_features
    from sor_pipeline.ingest.day import ingest_day
    from sor_pipeline.storage.lake import Lake
    from sor_pipeline.tca.run import run_tca
    from tests.integration.conftest import SAMPLES

    home = tmp_path_factory.mktemp("history") / "home"
    lake, settings = Lake(home / "lake"), Settings(home=home)
    from datetime import date

    for d in HISTORY:
        day = date.fromisoformat(d)
        ingest_day(day, SAMPLES, lake, settings)
        write_features(day, lake, settings)
        run_tca(day, lake)
    return home


def _fresh(history_home: Path, dest: Path, env: dict[str, str]) -> dict[str, str]:
    shutil.copytree(history_home, dest)
    return _home(env, dest)


def night_state(home: Path) -> dict[str, Any]:
    """What a night leaves in the registry and MLflow, ids and times excepted."""
    from mlflow import MlflowClient

    from sor_pipeline.config.settings import Settings
    from sor_pipeline.storage import registry

    settings = Settings(home=home)
    client: MlflowClient = registry.configure(settings)
    exp = client.get_experiment_by_name(settings.mlflow.experiment_name)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], "", max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    finished = [r for r in parents if r.info.status == "FINISHED" and r.data.tags.get("run_key")]
    versions = registry.search_versions(settings, {})
    ledger = registry.ledger(settings)
    return {
        "running": [r.info.run_id for r in runs if r.info.status == "RUNNING"],
        "killed": [r for r in runs if r.info.status == "KILLED"],
        "parents_finished": [(r.data.tags["run_key"], {k: v for k, v in r.data.params.items()},
                              sorted(k for k in r.data.metrics if not k.endswith("seconds")))
                             for r in finished],
        "versions": sorted((mv.tags.get("day"), mv.tags.get("run_key")) for mv in versions),
        "champion": registry.champion_version(settings),
        "ledger": [(e["night"], e["action"], e["from"], e["to"]) for e in ledger],
    }


def _same_decision(got: dict[str, Any], want: dict[str, Any]) -> None:
    """The night's decision identical; its figures to 1e-12 relative (the gate's clustered sums run
    through polars' multi-threaded group-by, whose float sums may differ in the last bit between runs)."""
    keys = ("promoted", "champion_version", "challenger_version", "verdict", "action")
    assert {k: got[k] for k in keys} == {k: want[k] for k in keys}
    figures = ("p_value", "cost_diff_bps")
    assert [got[k] for k in figures] == pytest.approx([want[k] for k in figures], rel=1e-12, nan_ok=True)


KILL_POINTS = ["ingest", "lake-publish:4", "features", "tca", "monitor", "retrain", "retrain-run", "report",
               "registry:2", "promote"]


@pytest.fixture(scope="module")
def module_env(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The ``env`` fixture's environment, once per module (the reference night is shared)."""
    from prefect.settings import PREFECT_API_URL

    out = {k: v for k, v in os.environ.items() if not k.startswith(("SOR_", "PREFECT_"))}
    out.update(SOR_HOME=str(tmp_path_factory.mktemp("unused") / "sor_home"),
               SOR_PREFECT_API_URL=str(PREFECT_API_URL.value()), SOR_BACKTEST_FOLDS="2",
               SOR_GATE_BOOTSTRAP_SAMPLES="500")
    return out


@pytest.fixture(scope="module")
def reference(module_env: dict[str, str], history_home: Path,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One uninterrupted night on a copy of the history: its summary, lake bytes, registry/MLflow state."""
    from tests.integration.conftest import SAMPLES

    tmp = tmp_path_factory.mktemp("reference")
    ref_env = _fresh(history_home, tmp / "ref", module_env)
    out = _run(ref_env, "nightly", "--date", NIGHT, "--raw", str(SAMPLES), "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    return {"summary": json.loads(out.stdout.splitlines()[-1]), "lake": lake_digest(tmp / "ref" / "lake"),
            "state": night_state(tmp / "ref")}


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_nightly_killed_then_rerun_equals_an_uninterrupted_night(
        point: str, env: dict[str, str], samples: Path, history_home: Path, tmp_path: Path,
        reference: dict[str, Any]) -> None:
    ref = reference
    kill_env = _fresh(history_home, tmp_path / "killed", env)
    proc = _start_paused(kill_env, point, tmp_path / "pause", "nightly", "--date", NIGHT, "--raw", str(samples))
    _kill9(proc)
    mid = night_state(tmp_path / "killed")
    assert mid["ledger"] == [] and mid["champion"] is None  # the alias moves last: a kill moved nothing
    rerun = _run(kill_env, "nightly", "--date", NIGHT, "--raw", str(samples), "--json")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads(rerun.stdout.splitlines()[-1])
    _same_decision(summary, ref["summary"])
    assert lake_digest(tmp_path / "killed" / "lake") == ref["lake"]
    state = night_state(tmp_path / "killed")
    assert state["running"] == []  # nothing left RUNNING
    assert state["versions"] == ref["state"]["versions"]  # one version for the night
    assert state["parents_finished"] == ref["state"]["parents_finished"]  # one FINISHED parent, same content
    assert state["champion"] == ref["state"]["champion"] and state["ledger"] == ref["state"]["ledger"]
    if point == "retrain-run":  # killed inside the MLflow run: it and its venue run are KILLED, and say why
        assert {r.data.tags.get("sor.closed_reason", "")[:10] for r in state["killed"]} <= {"superseded", "parent run"}
        assert len(state["killed"]) >= 2


def test_one_night_killed_at_every_stage_boundary_then_finished_equals_an_uninterrupted_night(
        env: dict[str, str], samples: Path, history_home: Path, tmp_path: Path,
        reference: dict[str, Any]) -> None:
    """Default suite: one kill -9 at every stage boundary of one night, in the night's own order, each
    re-run resuming what the killed one finished (so the whole chain costs about two nights, not ten),
    then a clean re-run. After every kill nothing has moved (no alias, no ledger line); at the end the
    lake bytes, the registry and MLflow equal an uninterrupted night's, nothing is left RUNNING and the
    runs killed inside the retrain are marked KILLED. The slow suite kills each point in a fresh home."""
    home = tmp_path / "killed"
    kill_env = _fresh(history_home, home, env)
    for point in KILL_POINTS:
        pause = tmp_path / f"pause-{point.replace(':', '-')}"
        proc = _start_paused(kill_env, point, pause, "nightly", "--date", NIGHT, "--raw", str(samples))
        _kill9(proc)  # _start_paused has checked that the night reached the point
        mid = night_state(home)
        assert mid["ledger"] == [] and mid["champion"] is None, (point, mid)  # the alias moves last
    rerun = _run(kill_env, "nightly", "--date", NIGHT, "--raw", str(samples), "--json")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads(rerun.stdout.splitlines()[-1])
    _same_decision(summary, reference["summary"])
    assert lake_digest(home / "lake") == reference["lake"] and _leftovers(home / "lake") == []
    state = night_state(home)
    assert state["running"] == []
    assert state["versions"] == reference["state"]["versions"]  # one version for the night
    assert state["parents_finished"] == reference["state"]["parents_finished"]  # one FINISHED parent
    assert state["champion"] == reference["state"]["champion"] and state["ledger"] == reference["state"]["ledger"]
    reasons = {r.data.tags.get("sor.closed_reason", "")[:10] for r in state["killed"]}
    assert len(state["killed"]) >= 2 and reasons <= {"superseded", "parent run"}, reasons


@pytest.mark.slow
def test_two_nightlies_of_one_date_one_promotes(env: dict[str, str], samples: Path, history_home: Path,
                                                tmp_path: Path) -> None:
    night_env = _fresh(history_home, tmp_path / "home", env)
    first = _start_paused(night_env, "promote", tmp_path / "pause", "nightly", "--date", NIGHT, "--raw",
                          str(samples), "--json")
    second = _run(night_env, "nightly", "--date", NIGHT, "--raw", str(samples), "--json")
    assert second.returncode == EXIT_ALREADY_RUNNING and "already running" in second.stderr
    (tmp_path / "pause" / "promote.resume").touch()
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    summary = json.loads(out.splitlines()[-1])
    state = night_state(tmp_path / "home")
    assert [v[0] for v in state["versions"]] == [NIGHT]
    assert len(state["ledger"]) == (1 if summary["promoted"] else 0) and state["running"] == []
    # a re-run of the decided night reuses its version: nothing registered, nothing moved
    again = _run(night_env, "nightly", "--date", NIGHT, "--raw", str(samples), "--json")
    assert again.returncode == 0 and night_state(tmp_path / "home")["versions"] == state["versions"]
    assert night_state(tmp_path / "home")["ledger"] == state["ledger"]


@pytest.mark.slow
def test_a_report_while_the_nightly_runs_changes_nothing(env: dict[str, str], samples: Path, history_home: Path,
                                                        tmp_path: Path) -> None:
    """A compliance report of the night's date, run while that night's nightly is mid-flight (paused at its
    report stage): both succeed (the report only reads; it takes no date lock), and the night still
    registers one version and leaves nothing RUNNING."""
    night_env = _fresh(history_home, tmp_path / "home", env)
    nightly = _start_paused(night_env, "report", tmp_path / "pause", "nightly", "--date", NIGHT, "--raw",
                            str(samples), "--json")
    report = _run(night_env, "report", "--start", NIGHT, "--end", NIGHT, "--out", str(tmp_path / "compliance"),
                  "--json")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (tmp_path / "compliance" / f"best_execution_{NIGHT}_{NIGHT}.pdf").is_file()
    (tmp_path / "pause" / "report.resume").touch()
    _, err = nightly.communicate(timeout=600)
    assert nightly.returncode == 0, err[-3000:]
    state = night_state(tmp_path / "home")
    assert [v[0] for v in state["versions"]] == [NIGHT] and state["running"] == []


@pytest.mark.slow
def test_report_fault_moves_no_champion(env: dict[str, str], samples: Path, history_home: Path,
                                        tmp_path: Path) -> None:
    night_env = _fresh(history_home, tmp_path / "home", env)
    failed = _run({**night_env, "SOR_INJECT_FAULT": "report"}, "nightly", "--date", NIGHT, "--raw", str(samples))
    assert failed.returncode == 1
    assert [f"error: nightly {NIGHT}: stage 'report' failed" in line for line in _error_lines(failed.stderr)] == [True]
    state = night_state(tmp_path / "home")
    assert state["champion"] is None and state["ledger"] == [] and [v[0] for v in state["versions"]] == [NIGHT]


@pytest.mark.slow
def test_mlflow_store_unavailable_mid_night(env: dict[str, str], samples: Path, history_home: Path,
                                            tmp_path: Path) -> None:
    home = tmp_path / "home"
    night_env = _fresh(history_home, home, env)
    proc = _start_paused(night_env, "report", tmp_path / "pause", "nightly", "--date", NIGHT, "--raw", str(samples))
    db = home / "mlflow" / "mlflow.db"
    saved = db.read_bytes()
    before = night_state(home)
    db.write_bytes(b"\0" * len(saved))  # the store goes bad under the running night
    (tmp_path / "pause" / "report.resume").touch()
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1 and len(_error_lines(err)) == 1, err[-3000:]
    db.write_bytes(saved)
    after = night_state(home)
    assert after["champion"] == before["champion"] is None and after["ledger"] == [] == before["ledger"]


@pytest.mark.slow
def test_lake_unwritable_mid_night(env: dict[str, str], samples: Path, history_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    night_env = _fresh(history_home, home, env)
    proc = _start_paused(night_env, "features", tmp_path / "pause", "nightly", "--date", NIGHT, "--raw",
                         str(samples))
    before = lake_digest(home / "lake")
    (home / "lake" / ".staging").write_text("not a folder")  # no partition can be staged any more
    (tmp_path / "pause" / "features.resume").touch()
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1 and len(_error_lines(err)) == 1 and "stage 'features' failed" in err, err[-3000:]
    (home / "lake" / ".staging").unlink()
    assert lake_digest(home / "lake") == before and _leftovers(home / "lake") == []
    assert night_state(home)["champion"] is None
