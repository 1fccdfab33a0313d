"""Alerts for monitoring breaches: one alert per (check, date), through a webhook and/or a hook.

- :func:`build_alerts` summarises the breaches of a results frame: all breached rows of one check on
  one date (e.g. 12 venues) become one alert with ``count``, the worst row's ``value``/``threshold``/
  ``message``, the worst ``severity`` and the list of ``venues`` (and ``symbols``).
- :func:`send_alerts` posts each alert as JSON to ``MonitorSettings.alert_webhook_url`` (urllib, a few
  seconds' timeout) and calls the optional ``hook(alert)``; failures are logged, never raised.
- A ledger (JSON under the lake root, :func:`ledger_path`) remembers the (check, date) alerts already
  delivered, so re-running the monitor for a date does not send them again. An alert whose severity
  rose since (warn -> error) is sent again.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from sor_pipeline.config.monitor import SEVERITIES, MonitorSettings
from sor_pipeline.storage.lake import Lake

log = logging.getLogger(__name__)

AlertHook = Callable[[dict[str, Any]], None]
LEDGER_FILE = "monitoring_alerts.json"
_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}


def ledger_path(lake: Lake) -> Path:
    """The sent-alerts ledger: the one place the monitor composes a storage path (under the lake root).
    To move into :class:`sor_pipeline.storage.lake.Lake` as a method (change request)."""
    return lake.root / LEDGER_FILE


def _key(alert: dict[str, Any]) -> str:
    return f"{alert['date']}|{alert['check']}"


def load_ledger(lake: Lake) -> dict[str, dict[str, Any]]:
    path = ledger_path(lake)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("alert ledger %s unreadable (%s): starting empty", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def save_ledger(lake: Lake, ledger: dict[str, dict[str, Any]]) -> None:
    """Atomic replace of the ledger file."""
    path = ledger_path(lake)
    tmp = path.with_name(f".{LEDGER_FILE}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _distance(row: dict[str, Any]) -> float:
    v, t = row["value"], row["threshold"]
    if v is None:
        return 0.0
    return abs(float(v) - float(t)) if t is not None else abs(float(v))


def build_alerts(results: pl.DataFrame, *, run_url: str | None = None,
                 min_severity: str = "warn") -> list[dict[str, Any]]:
    """One JSON-friendly alert per (check, date) with a breach of at least ``min_severity``.

    Fields: date (ISO), check, category, severity (worst), venue/symbol/value/threshold/message of the
    worst row (highest severity, then farthest from its threshold), subject (its table/feature), count
    (breached rows), venues, symbols and subjects (sorted, distinct), run_url, text (a one-line summary
    for chat webhooks).
    """
    floor = _RANK[min_severity]
    breaches = results.filter(~pl.col("passed"))
    alerts: list[dict[str, Any]] = []
    for (day, check), part in breaches.partition_by("date", "check", as_dict=True, maintain_order=True).items():
        rows = [r for r in part.iter_rows(named=True) if _RANK.get(r["severity"], 0) >= floor]
        if not rows:
            continue
        worst = max(rows, key=lambda r: (_RANK[r["severity"]], _distance(r)))
        venues = sorted({r["venue"] for r in rows if r["venue"] is not None})
        symbols = sorted({r["symbol"] for r in rows if r["symbol"] is not None})
        subjects = sorted({r["subject"] for r in rows if r.get("subject") is not None})
        more = f" (+{len(rows) - 1} more)" if len(rows) > 1 else ""
        alert = {
            "date": day.isoformat(), "check": check, "category": worst["category"],
            "severity": worst["severity"], "venue": worst["venue"], "symbol": worst["symbol"],
            "value": worst["value"], "threshold": worst["threshold"], "message": worst["message"] + more,
            "subject": worst.get("subject"), "count": len(rows), "venues": venues, "symbols": symbols,
            "subjects": subjects, "run_url": run_url,
        }
        alert["text"] = (f"[{alert['severity'].upper()}] sor-pipeline monitor {alert['date']} {check}: "
                         f"{alert['message']}" + (f" — {run_url}" if run_url else ""))
        alerts.append(alert)
    return alerts


def post_webhook(url: str, alert: dict[str, Any], timeout_s: float = 5.0) -> bool:
    """POST ``alert`` as JSON to ``url``; True on a 2xx answer. Errors are logged, not raised."""
    body = json.dumps(alert, default=str).encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "sor-pipeline-monitor"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            ok = 200 <= int(resp.status) < 300
    except Exception as exc:  # any network/HTTP failure must not break the nightly
        log.warning("alert webhook %s failed for %s: %s", url, _key(alert), exc)
        return False
    if not ok:
        log.warning("alert webhook %s answered %s for %s", url, resp.status, _key(alert))
    return ok


def send_alerts(alerts: list[dict[str, Any]], lake: Lake, cfg: MonitorSettings, *,
                hook: AlertHook | None = None) -> list[dict[str, Any]]:
    """Deliver the alerts not yet in the ledger (or escalated); returns those delivered.

    An alert counts as delivered when every configured channel (webhook, hook) took it; only those are
    written to the ledger, so a failed delivery is retried on the next run. With no channel configured
    nothing is sent or recorded (the alerts are still in the summary).
    """
    if cfg.alert_webhook_url is None and hook is None:
        return []
    ledger = load_ledger(lake)
    delivered: list[dict[str, Any]] = []
    for alert in alerts:
        prior = ledger.get(_key(alert))
        if prior is not None and _RANK.get(prior.get("severity", "error"), 2) >= _RANK[alert["severity"]]:
            continue
        ok = True
        if cfg.alert_webhook_url is not None:
            ok = post_webhook(cfg.alert_webhook_url, alert, cfg.alert_timeout_s) and ok
        if hook is not None:
            try:
                hook(alert)
            except Exception as exc:  # a broken notifier must not break the nightly
                log.warning("alert hook failed for %s: %s", _key(alert), exc)
                ok = False
        if ok:
            ledger[_key(alert)] = {"severity": alert["severity"], "count": alert["count"],
                                   "sent_at": datetime.now(UTC).isoformat()}
            delivered.append(alert)
    if delivered:
        save_ledger(lake, ledger)
    return delivered
