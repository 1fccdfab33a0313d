"""The command-line surface: --help everywhere, --json summaries as the last stdout line, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sor_pipeline.cli import app

COMMANDS = ["demo", "sim", "ingest", "features", "tca", "nightly", "backfill", "report", "monitor", "rollback",
            "ui", "serve", "config", "lake"]
runner = CliRunner()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_sim_json_summary_and_drop_layout(sor_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "raw"
    result = runner.invoke(app, ["sim", "--start", "2024-03-08", "--days", "2", "--out", str(out), "--symbols", "2",
                                 "--exec-format", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["raw_dir"] == str(out) and summary["dates"] == ["2024-03-08", "2024-03-11"]  # weekend skipped
    assert (out / "2024-03-08" / "child_orders.csv").is_file()
    assert (out / "2024-03-11" / "child_orders.jsonl").is_file()
    assert (out / "2024-03-08" / "_truth" / "oracle.parquet").is_file()


def test_config_json_reflects_environment(sor_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOR_TRAIN_WINDOW_DAYS", "11")
    result = runner.invoke(app, ["config", "--json"])
    cfg = json.loads(result.stdout.strip().splitlines()[-1])
    assert cfg["train"]["window_days"] == 11 and cfg["home"] == str(sor_home.resolve())
    assert cfg["tracking_uri"].startswith("sqlite:///")


def test_bad_input_is_a_clear_error(sor_home: Path) -> None:
    result = runner.invoke(app, ["sim", "--start", "2024-13-01"])
    assert result.exit_code != 0 and "not a date" in result.output
    result = runner.invoke(app, ["sim", "--start", "2024-03-08", "--venues", "DRK1,NOPE"])
    assert result.exit_code == 1 and "unknown venue code(s) ['NOPE']" in result.output
