"""Policy costs against the simulator's oracle (bps, + = cost).

- :func:`daily_policy_costs`: per rank-1 routing decision, the oracle expected cost of the static
  waterfall's first venue, of the venue actually routed to, and of the best venue.
- :func:`realized_child_costs`: a child's realized cost, ``fill_ratio * arrival_slippage +
  (1 - fill_ratio) * fallback_bps``, whose expectation is the oracle's ``expected_cost_bps`` of its venue.
"""

from __future__ import annotations

import polars as pl


def daily_policy_costs(child_orders: pl.DataFrame, oracle: pl.DataFrame,
                       static_waterfall: list[str]) -> dict[str, float]:
    """Mean oracle expected cost (bps) per rank-1 routing decision of ``static`` (first static venue
    present in the oracle), ``routed`` (the venue actually chosen) and ``oracle`` (the best venue);
    plus ``n`` (decisions) and ``regret_bps`` (routed - oracle)."""
    first = child_orders.filter(pl.col("route_rank") == 1).select("child_id", "venue")
    o = oracle.join(first.select("child_id"), on="child_id", how="semi")
    present = set(o["venue"].unique().to_list())
    static_venue = next((v for v in static_waterfall if v in present), None)
    best = o.group_by("child_id").agg(pl.col("expected_cost_bps").min().alias("oracle"))
    routed = o.join(first, on=["child_id", "venue"], how="semi").select(
        "child_id", pl.col("expected_cost_bps").alias("routed"))
    static = o.filter(pl.col("venue") == static_venue).select("child_id", pl.col("expected_cost_bps").alias("static"))
    j = best.join(routed, on="child_id", how="left").join(static, on="child_id", how="left")
    if j.height == 0:
        return {"static": float("nan"), "routed": float("nan"), "oracle": float("nan"), "n": 0.0,
                "regret_bps": float("nan")}
    means = j.select(pl.col("static").mean(), pl.col("routed").mean(), pl.col("oracle").mean()).row(0, named=True)
    out = {k: float(v) if v is not None else float("nan") for k, v in means.items()}
    out["n"] = float(j.height)
    out["regret_bps"] = out["routed"] - out["oracle"]
    return out


def realized_child_costs(child_orders: pl.DataFrame, fills: pl.DataFrame, oracle: pl.DataFrame,
                         nbbo: pl.DataFrame) -> pl.DataFrame:
    """Per child: fill_ratio, arrival_mid (NBBO mid at or before sent_ts), arrival_slippage_bps
    (s (avg_px - mid)/mid 1e4 + qty-weighted fee; null if unfilled), the oracle row of its venue
    and ``realized_cost_bps`` = fill_ratio * slippage + (1 - fill_ratio) * fallback_bps."""
    f = fills.group_by("child_id").agg(
        pl.col("qty").sum().alias("filled_qty"),
        ((pl.col("px") * pl.col("qty")).sum() / pl.col("qty").sum()).alias("avg_px"),
        ((pl.col("fee_bps") * pl.col("qty")).sum() / pl.col("qty").sum()).alias("fee"))
    nb = nbbo.filter(pl.col("flag").is_null()).select("ts", "symbol", pl.col("mid_px").alias("arrival_mid")).sort("ts")
    c = (child_orders.select("child_id", "symbol", "side", "venue", "qty", "route_rank",
                             pl.col("sent_ts").alias("ts"))
         .sort("ts").join_asof(nb, on="ts", by="symbol", strategy="backward", check_sortedness=False)
         .join(f, on="child_id", how="left")
         .join(oracle, on=["child_id", "venue"], how="left"))
    s = pl.when(pl.col("side") == "BUY").then(1.0).otherwise(-1.0)
    ratio = pl.col("filled_qty").fill_null(0) / pl.col("qty")
    slip = s * (pl.col("avg_px") - pl.col("arrival_mid")) / pl.col("arrival_mid") * 1e4 + pl.col("fee")
    return c.with_columns(ratio.alias("fill_ratio"), slip.alias("arrival_slippage_bps")).with_columns(
        (pl.col("fill_ratio") * pl.col("arrival_slippage_bps").fill_null(0.0)
         + (1 - pl.col("fill_ratio")) * pl.col("fallback_bps")).alias("realized_cost_bps"))
