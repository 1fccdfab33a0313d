"""The report's first page: what a compliance reviewer must conclude, in plain words, with the figures.

Every figure is read from a table or test the report prints further on (the volume table's ALL row, the
router-performance tests, the outside-NBBO table, the monitoring rows of the period), so the first page
and the body cannot disagree; model changes come from the alias ledger (every champion move, with its
night and reason) through :mod:`sor_pipeline.storage.registry`.

Verdict of router vs static (costs in bps, + = cost; difference = static − ML, > 0 = the ML router was
cheaper): from the 95% bootstrap interval of the mean daily difference of the primary test (the
simulator's oracle pricing of the same decisions when the lake has it, which is causal; else realised
arrival slippage, descriptive because the policies routed different orders):

- ``cheaper``: the interval lies above 0;  ``costlier``: below 0 (a finding to review);
- ``no significant difference``: it straddles 0;  ``too few days``: fewer than 2 paired days.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.reporting.data import ReportData
from sor_pipeline.reporting.tables import Table

VERDICT_WORDS = {
    "cheaper": "the ML router was cheaper than the static waterfall",
    "costlier": "the ML router was MORE EXPENSIVE than the static waterfall — review",
    "no significant difference": "no significant cost difference between the ML router and the static waterfall",
    "too few days": "too few paired days to compare the ML router with the static waterfall",
}


def verdict(test: dict[str, Any] | None) -> str:
    """``cheaper`` / ``costlier`` / ``no significant difference`` / ``too few days`` from a paired test
    (static − ML, bps; its bootstrap interval)."""
    if not test or test.get("n_days", 0) < 2 or test.get("boot_low") is None or test.get("boot_high") is None:
        return "too few days"
    if test["boot_low"] > 0:
        return "cheaper"
    if test["boot_high"] < 0:
        return "costlier"
    return "no significant difference"


def model_changes(settings: Settings, start: date, end: date) -> list[dict[str, Any]]:
    """Alias-ledger entries (promote, demote, rollback) of the nights ``start..end``, oldest first."""
    if not settings.has_tracking_store and not settings.ledger_path.is_file():
        return []
    from sor_pipeline.storage import registry  # imported lazily: MLflow is slow to import

    out = []
    for e in registry.ledger(settings):
        night = str(e.get("night", ""))
        if start.isoformat() <= night <= end.isoformat():
            out.append({"night": night, "action": str(e.get("action", "")), "from": str(e.get("from", "")),
                        "to": str(e.get("to", "")), "reason": str(e.get("reason", ""))})
    return out


def _row(table: Table, key: str, value: str) -> dict[str, Any]:
    rows = table.frame.filter(pl.col(key) == value).to_dicts()
    return rows[0] if rows else {}


def _attention(data: ReportData, tables: dict[str, Table]) -> list[str]:
    """Plain sentences: executions outside the NBBO (by venue), monitoring breaches of the period (per
    check, with venues), the worst child order."""
    out = []
    ex = data.executions.filter(pl.col("outside_nbbo_at_fill")) if not data.executions.is_empty() else data.executions
    if ex.height:
        by = ex.group_by("venue").agg(pl.len().alias("n")).sort(["n", "venue"], descending=[True, False])
        where = ", ".join(f"{r['venue']} {r['n']}" for r in by.iter_rows(named=True))
        out.append(f"{ex.height} execution(s) printed outside the NBBO at their own time ({where}); the largest "
                   f"are listed with their ids under Outliers. Each needs an explanation: a trade-through, a book "
                   f"walked past the top of book, or a stale quote.")
    else:
        out.append("No execution printed outside the NBBO at its own time.")
    m = data.monitoring
    if not m.is_empty() and {"passed", "severity", "check"} <= set(m.columns):
        bad = m.filter(~pl.col("passed") & pl.col("severity").is_in(["warn", "error"]))
        if bad.height:
            g = (bad.group_by("check").agg(pl.col("date").n_unique().alias("days"),
                                           pl.col("venue").drop_nulls().unique().sort().alias("venues"),
                                           (pl.col("severity") == "error").any().alias("error"))
                 .sort("check"))
            parts = [f"{r['check']} on {r['days']} day(s)" + (f" ({', '.join(r['venues'])})" if r["venues"] else "")
                     + (" [error]" if r["error"] else "") for r in g.iter_rows(named=True)]
            out.append(f"Monitoring raised {g.height} kind(s) of alert in the period: {'; '.join(parts)}.")
        else:
            out.append("Monitoring raised no warn- or error-level alert in the period.")
    worst = tables.get("worst_children")
    if worst is not None and worst.frame.height:
        w = worst.frame.row(0, named=True)
        out.append(f"Worst child order: {w['child_id']} at {w['venue']} ({w['symbol']}, {w['date']}), arrival "
                   f"slippage {w['arrival_slippage_bps']:,.2f} bps.")
    return out


def executive_summary(data: ReportData, settings: Settings, tables: dict[str, Table],
                      tests: dict[str, Any], champion: str | None) -> dict[str, Any]:
    """The first page's figures and sentences (JSON-ready): period, volumes (the volume table's ALL
    row), the router-vs-static test and verdict, what needs a look, model changes, a conclusion."""
    vol = _row(tables["volume"], "side", "ALL")
    primary_key = "oracle" if "oracle" in tests else "realized"
    primary = tests.get(primary_key)
    v = verdict(primary)
    changes = model_changes(settings, data.start, data.end)
    attention = _attention(data, tables)
    n_out = int(data.executions.filter(pl.col("outside_nbbo_at_fill")).height) if not data.executions.is_empty() else 0
    mon_alerts = sum(1 for s in attention if s.startswith("Monitoring raised") and "no warn" not in s)
    concerns = []
    if v == "costlier":
        concerns.append("the ML router cost more than the static waterfall")
    if n_out:
        concerns.append(f"{n_out} execution(s) outside the NBBO")
    if mon_alerts:
        concerns.append("monitoring alerts")
    if concerns:
        conclusion = ("Findings to review before sign-off: " + "; ".join(concerns) + ". The sections named "
                      "below hold the detail with order and execution ids.")
    else:
        conclusion = ("No finding needs action: execution quality is within the monitored limits, no execution "
                      "printed outside the NBBO, and " + VERDICT_WORDS[v] + ".")
    return {
        "start": data.start.isoformat(), "end": data.end.isoformat(), "trading_days": len(data.days),
        "parent_orders": vol.get("parent_orders", 0), "child_orders": vol.get("child_orders", 0),
        "filled_shares": vol.get("filled_shares", 0), "notional_usd": vol.get("notional_usd", 0.0),
        "comparison": primary_key, "test": primary, "verdict": v, "verdict_text": VERDICT_WORDS[v],
        "outside_nbbo": n_out, "attention": attention, "model_changes": changes, "champion": champion,
        "conclusion": conclusion,
    }


def _bps(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+,.2f}"


def lines(s: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs for the first page's key-figure table."""
    t = s["test"] or {}
    basis = ("simulator oracle, the same ML decisions priced at the static venue (causal)"
             if s["comparison"] == "oracle" else "realised arrival slippage per filled child order (descriptive)")
    if t.get("boot_low") is not None:
        cmp_txt = (f"static − ML {_bps(t.get('mean_diff_bps'))} bps per day on average over {t['n_days']} days, "
                   f"95% interval [{_bps(t['boot_low'])}, {_bps(t['boot_high'])}] bps, p = {t['p_value']:.3f}; "
                   f"> 0 = ML cheaper. Basis: {basis}.")
    else:
        cmp_txt = f"{t.get('n_days', 0)} paired day(s): too few for an interval. Basis: {basis}."
    if s["model_changes"]:
        changes = "; ".join(f"{c['night']}: {c['action']} {c['from']} → {c['to']}" + (f" ({c['reason']})" if c["reason"]
                                                                                         else "")
                            for c in s["model_changes"])
    else:
        changes = "none: the champion did not change in the period."
    return [
        ("Period", f"{s['start']} to {s['end']}, {s['trading_days']} trading day(s) with orders"),
        ("Volumes", f"{s['parent_orders']:,} parent orders, {s['child_orders']:,} child orders, "
                    f"{s['filled_shares']:,} shares filled, ${s['notional_usd']:,.0f} notional"),
        ("Router vs static", f"{s['verdict_text'][0].upper()}{s['verdict_text'][1:]}."),
        ("The test", cmp_txt),
        ("Model changes", changes),
        ("Champion at period end", s["champion"] or "none (the static waterfall routes)"),
    ]
