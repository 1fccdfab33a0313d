"""What a person sees in the terminal: the real console command in a subprocess (as a desk runs it).

Expected errors are one ``error: ...`` line on stderr and exit 1, tracebacks only in the command's log
file under ``$SOR_HOME/logs/``; ``demo`` prints lines and a table, no JSON and no library log lines;
with ``--json`` stdout is the JSON object alone. Commands that run flows talk to the harness's Prefect
API (``env`` fixture of tests/integration/conftest.py) instead of each starting one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
#: What a library log line or a traceback looks like on a terminal.
CHATTER = re.compile(r"Traceback|^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d |\b(INFO|WARNING|DEBUG)\b|Warning:|"
                     r"\bmlflow(\.\w+)+:|weasyprint|Flow run|Task run|\bprefect(\.\w+)+ ", re.MULTILINE)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sor_pipeline.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def _log_files(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["SOR_HOME"]) / "logs").glob("*.log"))


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stdout == ""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    assert not CHATTER.search(proc.stderr)
    return lines[0]


def test_sim_bad_input_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    line = _one_error_line(_cli(env, "sim", "--start", "2024-13-01", "--out", str(tmp_path)))
    assert "--start: '2024-13-01' is not a date YYYY-MM-DD" in line
    line = _one_error_line(_cli(env, "sim", "--start", "2024-03-08", "--venues", "DRK1,NOPE", "--out", str(tmp_path)))
    assert "unknown venue code(s) ['NOPE']" in line


def test_commands_on_an_empty_lake_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    empty = {**env, "SOR_HOME": str(tmp_path / "home")}
    line = _one_error_line(_cli(empty, "tca", "--date", "2024-03-04"))  # was a DuckDB catalog error + 40 lines
    assert "tca 2024-03-04: no child_orders" in line and "sor-pipeline ingest --date 2024-03-04" in line
    line = _one_error_line(_cli(empty, "report", "--start", "2024-03-04", "--end", "2024-03-05"))
    assert "has no child orders in the period" in line


def test_missing_and_bad_drop_one_line_traceback_in_log(env: dict[str, str], samples: Path,
                                                         tmp_path: Path) -> None:
    line = _one_error_line(_cli(env, "ingest", "--date", "2024-03-11", "--raw", str(samples)))
    assert f"error: no raw drop for 2024-03-11: {samples}/2024-03-11 does not exist" in line
    log = _log_files(env)[-1]
    assert f"(log: {log})" in line and "Traceback" in log.read_text()

    # a drop whose child-order file has a column the contract does not know: the line names file and field
    raw = tmp_path / "raw"
    shutil.copytree(samples / "2024-03-04", raw / "2024-03-04")
    csv = raw / "2024-03-04" / "child_orders.csv"
    csv.write_text(csv.read_text().replace(",qty,", ",quantity,", 1))
    line = _one_error_line(_cli(env, "ingest", "--date", "2024-03-04", "--raw", str(raw)))
    assert str(csv) in line and "quantity" in line


def test_demo_prints_lines_and_a_table_not_json_nor_library_logs(env: dict[str, str]) -> None:
    proc = _cli(env, "demo", "--days", "1", "--symbols", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == ""
    err = proc.stderr
    assert not CHATTER.search(err), err
    assert "{" not in err and '"days"' not in err
    log = _log_files(env)[-1]
    assert re.search(r"^night 1/1 2024-03-04: static \d+\.\d\d / ml \d+\.\d\d / oracle \d+\.\d\d bps", err, re.M)
    assert "Mean expected cost per routing decision" in err and "Report: " in err
    assert "sor-pipeline ui" in err and "sor-pipeline ui --prefect" in err and f"Log of this run: {log}" in err
    text = log.read_text()
    assert "prefect" in text and "mlflow" in text.lower()  # the chatter went to the file
