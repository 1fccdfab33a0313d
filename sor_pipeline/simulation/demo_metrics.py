"""Per-day policy costs of the closed-loop demo and the share of the static-to-oracle gap closed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from sor_pipeline.simulation.metrics import daily_policy_costs


def day_costs(child_orders: pl.DataFrame, oracle: pl.DataFrame, static_waterfall: list[str]) -> dict[str, float]:
    """Mean oracle expected cost (bps, + = cost) per rank-1 routing decision, over every decision of the
    day, explored ones included (exploration is a real cost): ``static`` = the static waterfall's first
    venue, ``ml`` = the venue the day's router chose, ``oracle`` = the best venue. Grading only."""
    c = daily_policy_costs(child_orders, oracle, static_waterfall)
    return {"static": c["static"], "ml": c["routed"], "oracle": c["oracle"], "decisions": int(c["n"])}


def captured_gap_share(days: list[dict[str, Any]], *, model_days_only: bool = False) -> float | None:
    """(sum static - sum ml) / (sum static - sum oracle) over the run's days (decision-weighted);
    1 = the ML router closed the whole gap to the oracle, 0 = no better than static."""
    rows = [d for d in days if not model_days_only or str(d.get("router_policy", "")).startswith("model:")]
    num = den = 0.0
    for d in rows:
        n = d.get("decisions", 1) or 1
        if any(d.get(k) is None or math.isnan(d[k]) for k in ("static", "ml", "oracle")):
            continue
        num += n * (d["static"] - d["ml"])
        den += n * (d["static"] - d["oracle"])
    return None if den <= 0 else num / den


def nights_to_recover(days: list[dict[str, Any]], shifts: list[int], tolerance_bps: float = 0.1) -> list[int | None]:
    """Per shift starting on day index ``s``: the least ``k`` such that the router costs at most static +
    ``tolerance_bps`` on every day from ``s + k`` until the next shift (or the end); None if never."""
    out: list[int | None] = []
    bounds = sorted(shifts)
    for j, s in enumerate(bounds):
        end = bounds[j + 1] if j + 1 < len(bounds) else len(days)
        span = days[s:end]
        k_found: int | None = None
        for k in range(len(span)):
            if all(d["ml"] <= d["static"] + tolerance_bps for d in span[k:]):
                k_found = k
                break
        out.append(k_found)
    return out


def plot_day_costs(days: list[dict[str, Any]], path: Path) -> Path:
    """Line plot of the mean cost per routing decision by day: static, ML router, oracle (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [d["date"][5:] for d in days]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=110)
    ax.plot(x, [d["static"] for d in days], "o-", color="#888888", label="static waterfall")
    ax.plot(x, [d["ml"] for d in days], "o-", color="#1f77b4", label="router that day (ML once promoted)")
    ax.plot(x, [d["oracle"] for d in days], "o--", color="#2ca02c", label="oracle (best venue)")
    for i, d in enumerate(days):
        if str(d.get("router_policy", "")).startswith("model:"):
            ax.axvspan(i - 0.5, i + 0.5, color="#1f77b4", alpha=0.06, lw=0)
    ax.set_ylabel("mean expected cost per decision, bps (+ = cost)")
    ax.set_title("Closed-loop demo: cost per day (shaded: the ML champion routed)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path
