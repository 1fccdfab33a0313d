"""The night's JSON summary (docs/DESIGN.md ``nightly`` fields) and its markdown rendering."""

from __future__ import annotations

import math
from datetime import date
from typing import Any


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def night_summary(day: date, *, ingest: dict[str, Any], features: dict[str, Any], tca: dict[str, Any],
                  monitor: dict[str, Any], retrain: dict[str, Any], sandbox: dict[str, Any] | None,
                  promoted: bool, champion_version: str | None, report: dict[str, Any]) -> dict[str, Any]:
    """One JSON-friendly object: rows, costs, verdict, versions, report paths."""
    per_day = retrain.get("per_day") or []
    last = per_day[-1] if per_day else {}
    return {
        "date": day.isoformat(),
        "promoted": bool(promoted),
        "champion_version": champion_version,
        "challenger_version": retrain.get("challenger_version") or None,
        "verdict": retrain.get("verdict"),
        "reasons": retrain.get("reasons", []),
        "p_value": _num(retrain.get("p_value")),
        "cost_diff_bps": _num(retrain.get("cost_diff_bps")),
        "cost_source": retrain.get("cost_source"),
        "run_id": retrain.get("run_id") or None,
        "sandbox": sandbox,
        "rows": {t: {k: v.get(k) for k in ("read", "written", "quarantined")}
                 for t, v in ingest.get("tables", {}).items()},
        "features_rows": features.get("written"),
        "tca": {k: v.get("written") if isinstance(v, dict) else v for k, v in tca.items()},
        "monitor": {k: monitor.get(k) for k in ("counts", "breached_checks", "must_stop", "alerts_sent")},
        "backtest_last_day_costs_bps": {k: last.get(k) for k in ("static", "challenger", "champion", "logged")},
        "report_html": report.get("html"),
        "report_pdf": report.get("pdf"),
    }


def night_markdown(s: dict[str, Any]) -> str:
    rows = "\n".join(f"| {t} | {v['read']} | {v['written']} | {v['quarantined']} |" for t, v in s["rows"].items())
    costs = s["backtest_last_day_costs_bps"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    breached = ", ".join(b["check"] for b in s["monitor"].get("breached_checks") or []) or "none"
    return f"""# sor-pipeline nightly {s['date']}

**Verdict:** {s['verdict']} — promoted: **{s['promoted']}**; champion v{s['champion_version']},
challenger v{s['challenger_version']}; p = {fmt(s['p_value'])}, cost difference {fmt(s['cost_diff_bps'])} bps
(negative = challenger cheaper; source {s['cost_source']}).

Reasons: {'; '.join(s['reasons']) or '-'}

| table | read | written | quarantined |
|---|---|---|---|
{rows}

Backtest, last test day, mean cost per order (bps, + = cost): static {fmt(costs.get('static'))},
challenger {fmt(costs.get('challenger'))}, champion {fmt(costs.get('champion'))}, oracle {fmt(costs.get('oracle'))}.

Monitor: {s['monitor'].get('counts')}; breached: {breached}

Report: {s['report_html']}
"""
