"""Every command of the command line on a tiny run: its exit code and the fields of its ``--json``
summary (the last stdout line), in the order a desk would use them on the sample drops.

``serve`` and ``ui`` start long-running servers; their arguments are checked in tests/unit/test_cli.py
and the MLflow UI is opened by hand (README). ``sim`` and ``config`` are covered there too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
HISTORY = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"]
NIGHT = "2024-03-08"


def _run(env: dict[str, str], *args: str, code: int = 0) -> dict[str, Any]:
    """The real console command in a subprocess (as a desk runs it); its --json summary, or its stderr."""
    proc = subprocess.run([sys.executable, "-m", "sor_pipeline.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == code, f"{args}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    if code != 0:
        return {"stderr": proc.stderr}
    assert len(proc.stdout.splitlines()) == 1, proc.stdout[-3000:]  # with --json, stdout is the JSON alone
    return json.loads(proc.stdout)


def test_commands_in_a_nights_order(env: dict[str, str], samples: Path) -> None:
    # ingest a range: one summary per date, every canonical table counted
    ing = _run(env, "ingest", "--date", HISTORY[0], "--end", HISTORY[-1], "--raw", str(samples), "--json")
    assert ing["dates"] == HISTORY and len(ing["days"]) == 4
    for day in ing["days"]:
        co = day["tables"]["child_orders"]
        assert co["read"] == co["written"] + co["quarantined"] and co["written"] > 100
    # a date with no drop: exit 1, the message (stderr of the real console command) names the folder
    missing = _run(env, "ingest", "--date", "2024-03-11", "--raw", str(samples), code=1)
    assert f"error: no raw drop for 2024-03-11: {samples}/2024-03-11" in missing["stderr"]

    day = HISTORY[0]
    feats = _run(env, "features", "--date", day, "--json")
    assert feats["date"] == day and feats["features"]["written"] > 100 and Path(feats["path"]).exists()
    tca = _run(env, "tca", "--date", day, "--json")
    assert tca["date"] == day and tca["tca_child"]["written"] == ing["days"][0]["tables"]["child_orders"]["written"]

    # the remaining nights: the second and third feature days are warm-up nights that register a scout
    # (never judged nor promoted); from the fourth (2 folds + 2 training days) each trains, is judged
    # and registers a version; the champion is the last promoted one
    nights = _run(env, "backfill", "--start", HISTORY[1], "--end", NIGHT, "--raw", str(samples), "--json")
    assert nights["dates"] == [*HISTORY[1:], NIGHT]
    scouts = nights["nights"][:2]
    assert [(n["verdict"], n["challenger_version"], n["promoted"]) for n in scouts] == [
        ("scout", "1", False), ("scout", "2", False)]
    judged = nights["nights"][2:]
    assert [n["challenger_version"] for n in judged] == ["3", "4"]
    promoted = [n["challenger_version"] for n in judged if n["promoted"]]
    for n in judged:
        assert n["verdict"] in {"pass", "fail", "inconclusive"} and n["promoted"] == (n["verdict"] == "pass")
    night = judged[-1]
    assert night["date"] == NIGHT and night["champion_version"] == (promoted[-1] if promoted else None)
    assert Path(night["report_pdf"]).is_file() and night["rows"]["fills"]["written"] > 0

    # the same night again: the registered version is reused, nothing new
    again = _run(env, "nightly", "--date", NIGHT, "--raw", str(samples), "--json")
    assert again["challenger_version"] == "4" and again["verdict"] == night["verdict"]

    lake = _run(env, "lake", "--json")
    names = lake["datasets"]
    assert {"child_orders", "features", "tca_child", "monitoring"} <= set(names)
    assert names["features"]["partitions"] == 5 and names["features"]["last"] == NIGHT

    mon = _run(env, "monitor", "--date", NIGHT, "--json")
    assert mon["date"] == NIGHT and mon["must_stop"] is False and set(mon["counts"]) >= {"info", "warn", "error"}

    rep = _run(env, "report", "--start", HISTORY[0], "--end", NIGHT, "--json")
    assert all(Path(rep[k]).is_file() for k in ("html", "pdf", "rule605"))

    # rollback needs a previous champion: two promotions made one, otherwise exit 1
    if len(promoted) == 2:
        rb = _run(env, "rollback", "--json")
        assert rb == {"model": "sor-router", "from_version": "4", "champion_version": "3"}
    else:
        _run(env, "rollback", "--json", code=1)


def test_demo_one_day(env: dict[str, str]) -> None:
    out = _run(env, "demo", "--days", "1", "--symbols", "2", "--json")
    assert len(out["days"]) == 1
    day = out["days"][0]
    assert day["router_policy"] == "static" and day["verdict"] == "skipped" and not day["promoted"]
    # static routed day 1, exploring: every decision counts, so the day's router costs at least the oracle
    assert day["oracle"] <= day["static"] and day["oracle"] <= day["ml"] and day["cost_source"] == "none"
    assert Path(out["report_pdf"]).is_file() and Path(out["cost_plot"]).is_file()
