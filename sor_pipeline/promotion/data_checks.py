"""The gate's "data checks passed" rule, fed by the night's real ingest and monitor results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Tables the night's decision needs rows of (the decisions, their outcomes and the market).
DECISION_TABLES = ("child_orders", "fills", "nbbo")


def data_checks_failures(ingest: Mapping[str, Any], monitor: Mapping[str, Any]) -> list[str]:
    """Why the night's data cannot carry a promotion or a demotion (empty = the checks passed): a
    decision table written empty, or an error-level monitor breach."""
    out: list[str] = []
    tables = ingest.get("tables") or {}
    for name in DECISION_TABLES:
        written = (tables.get(name) or {}).get("written")
        if not written:
            out.append(f"ingest wrote no {name} rows")
    if monitor.get("must_stop"):
        out.append("monitor reported an error-level breach")
    return out


def data_checks_passed(ingest: Mapping[str, Any], monitor: Mapping[str, Any]) -> bool:
    return not data_checks_failures(ingest, monitor)
