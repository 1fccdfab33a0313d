"""The paragraph a model version carries, and the UI commands (pure: no MLflow store, no server)."""

from __future__ import annotations

from pathlib import Path

from sor_pipeline.cli import mlflow_ui_command, prefect_ui_command
from sor_pipeline.config.settings import Settings
from sor_pipeline.storage.registry import describe_night

PER_DAY = [{"date": "2024-03-11", "static": 5.0, "challenger": 4.5, "champion": 4.8},
           {"date": "2024-03-12", "static": 5.2, "challenger": 4.6, "champion": 5.12}]
NIGHT = {"day": "2024-03-15", "challenger_version": "5", "promoted": False, "gate_passed": False, "verdict": "fail",
         "cost_diff_bps": -0.41, "p_value": 0.0812, "cost_source": "oracle",
         "reasons": ["not significantly cheaper than champion: diff -0.410 bps, p 0.0812"],
         "per_day": PER_DAY}


def test_description_says_what_was_decided_and_why() -> None:
    text = describe_night(NIGHT)
    assert text.startswith("Night 2024-03-15: challenger v5 NOT PROMOTED: the incumbent stays.")
    assert "challenger minus the champion that routed those days = -0.410 bps per decision" in text
    assert "p = 0.0812" in text and "over 2 test day(s), costs from oracle" in text
    assert "vs the champion: mean -0.410 bps, range -0.520 to -0.300 bps" in text
    assert "vs the static waterfall: mean -0.550 bps, range -0.600 to -0.500 bps" in text
    assert text.endswith("Gate fail: not significantly cheaper than champion: diff -0.410 bps, p 0.0812.")
    assert "\n" not in text  # one paragraph


def test_first_night_is_judged_against_static() -> None:
    first = {**NIGHT, "promoted": True, "gate_passed": True, "verdict": "pass", "reasons": ["all checks passed"],
             "per_day": [{**d, "champion": None} for d in PER_DAY]}
    text = describe_night(first, {"passed": True})
    assert "PROMOTED: it is the champion" in text and "minus the static waterfall" in text
    assert "vs the champion" not in text and text.endswith("Sandbox passed.")


def test_ui_commands_one_worker_and_prefect_state_under_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    cmd, env = mlflow_ui_command(s, "127.0.0.1", 5000, 1)
    assert cmd[cmd.index("--workers") + 1] == "1" and "server" in cmd
    assert cmd[cmd.index("--backend-store-uri") + 1] == s.resolved_tracking_uri
    assert env == {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    assert mlflow_ui_command(s, "127.0.0.1", 5000, 3)[0][-1] == "3"
    cmd, env = prefect_ui_command(s, "127.0.0.1", 4200)
    assert cmd[1:5] == ["-m", "prefect", "server", "start"] and env["PREFECT_HOME"] == str(s.prefect_home)
