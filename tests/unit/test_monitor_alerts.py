"""run_monitor end to end on a broken drop: the monitoring partition, one webhook alert per breached
check (a loopback http.server in a thread), no re-send on a re-run, must_stop, summary and markdown."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.monitoring import MonitorSettings, build_alerts, ledger_path, run_monitor
from sor_pipeline.storage.lake import CATALOG, Lake
from tests.unit.test_monitor_fixtures import DAY, et, quotes, write_feed_days


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.fixture()
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture()
def broken_lake(tmp_path: Path) -> Lake:
    """Clean days, then the last day breaks: LITB stops quoting (error), two (symbol, venue) pairs have a
    10-minute hole (warn, one check), ECNM sends crossed quotes (warn)."""
    lake = Lake(tmp_path / "lake")
    write_feed_days(lake)
    ts = pl.col("ts")
    start = pl.lit(et(DAY, 11, 0)).cast(pl.Datetime("ns", "UTC"))
    end = pl.lit(et(DAY, 11, 10)).cast(pl.Datetime("ns", "UTC"))
    hole = ts.is_between(start, end) & (
        ((pl.col("symbol") == "AAA") & (pl.col("venue") == "LITA"))
        | ((pl.col("symbol") == "BBB") & (pl.col("venue") == "ECNM")))
    q = quotes(DAY).filter((pl.col("venue") != "LITB") & ~hole).with_row_index()
    bad = (pl.col("venue") == "ECNM") & (pl.col("index") % 5 == 0)
    q = q.with_columns(pl.when(bad).then(pl.lit("STALE")).otherwise(pl.col("flag")).alias("flag")).drop("index")
    lake.write("quotes", q, DAY)
    return lake


def test_one_alert_per_breached_check_and_no_resend(broken_lake: Lake, webhook: tuple[str, list[dict[str, Any]]],
                                                     tmp_path: Path) -> None:
    url, received = webhook
    settings = Settings(home=tmp_path)
    cfg = MonitorSettings(alert_webhook_url=url, alert_timeout_s=3)
    hooked: list[dict[str, Any]] = []
    report = run_monitor(DAY, broken_lake, settings, config=cfg, run_url="http://mlflow/run/1", hook=hooked.append)

    assert "monitoring" in CATALOG and CATALOG["monitoring"].layer == "monitoring"
    stored = broken_lake.read_day("monitoring", DAY)
    assert stored.height == report.results.height and stored["date"].unique().to_list() == [DAY]

    by_check = {a["check"]: a for a in received}
    assert len(received) == 3 and set(by_check) == {"missing_venue", "quote_gap", "bad_quotes"}
    assert hooked == received
    gap = by_check["quote_gap"]
    assert gap["count"] == 2 and gap["venues"] == ["ECNM", "LITA"] and gap["symbols"] == ["AAA", "BBB"]
    assert gap["severity"] == "warn" and gap["threshold"] == 120.0 and gap["value"] == pytest.approx(720.0)
    assert gap["date"] == DAY.isoformat() and gap["run_url"] == "http://mlflow/run/1"
    assert "(+1 more)" in gap["message"]
    mv = by_check["missing_venue"]
    assert mv["severity"] == "error" and mv["venue"] == "LITB" and mv["value"] == 1.0 and mv["count"] == 1
    for a in received:
        assert {"date", "check", "venue", "value", "threshold", "severity", "message", "run_url"} <= set(a)

    assert report.must_stop
    s = report.summary
    json.dumps(s)
    assert s["must_stop"] is True and s["breaches"]["error"] == 1 and s["alerts_sent"] == 3
    assert {b["check"] for b in s["breached_checks"]} == {"missing_venue", "quote_gap", "bad_quotes"}
    md = report.to_markdown()
    assert "STOP" in md and "| quote_gap |" in md

    # a re-run for the same date sends nothing new, and the ledger lives under the lake root
    again = run_monitor(DAY, broken_lake, settings, config=cfg, run_url="http://mlflow/run/2")
    assert again.alerts_sent == [] and len(received) == 3 and len(again.alerts) == 3
    assert ledger_path(broken_lake).parent == broken_lake.root and ledger_path(broken_lake).is_file()


def test_escalation_resends_and_failed_delivery_is_retried(tmp_path: Path,
                                                           webhook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = webhook
    lake = Lake(tmp_path / "lake")
    from sor_pipeline.monitoring import send_alerts
    from sor_pipeline.monitoring.schema import result, results_frame

    warn = results_frame(DAY, [result("psi_feature", "drift", severity="warn", passed=False, value=0.3,
                                      threshold=0.25, subject="spread_bps", message="spread_bps drifted")])
    # unreachable webhook: logged, not raised, not recorded
    dead = MonitorSettings(alert_webhook_url="http://127.0.0.1:9/none", alert_timeout_s=1)
    assert send_alerts(build_alerts(warn), lake, dead) == []
    live = MonitorSettings(alert_webhook_url=url)
    assert len(send_alerts(build_alerts(warn), lake, live)) == 1
    assert send_alerts(build_alerts(warn), lake, live) == []
    error = warn.with_columns(pl.lit("error").alias("severity"))
    assert len(send_alerts(build_alerts(error), lake, live)) == 1
    assert [a["severity"] for a in received] == ["warn", "error"]
    assert received[0]["subjects"] == ["spread_bps"]


def test_clean_day_sends_nothing(tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = webhook
    lake = Lake(tmp_path / "lake")
    write_feed_days(lake, [DAY])
    cfg = MonitorSettings(alert_webhook_url=url)
    report = run_monitor(DAY, lake, Settings(home=tmp_path), config=cfg)
    assert received == [] and not report.must_stop
    assert "No breaches." in report.to_markdown()
