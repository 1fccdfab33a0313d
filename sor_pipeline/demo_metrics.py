"""Per-day policy costs of the closed-loop demo and the share of the static-to-oracle gap closed."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from sor_pipeline.sim.metrics import daily_policy_costs


def day_costs(child_orders: pl.DataFrame, oracle: pl.DataFrame, static_waterfall: list[str]) -> dict[str, float]:
    """Mean oracle expected cost (bps, + = cost) per rank-1 routing decision, on the decisions the
    routing policy made itself (exploration excluded): ``static`` = the static waterfall's first venue,
    ``ml`` = the venue the day's router chose, ``oracle`` = the best venue."""
    greedy = child_orders.filter(~pl.col("router_policy").str.ends_with("/explore"))
    c = daily_policy_costs(greedy, oracle, static_waterfall)
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
