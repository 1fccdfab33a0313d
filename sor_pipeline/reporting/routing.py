"""Venue execution quality (Rule 605 style) and routing disclosure (Rule 606(b)(3) and MiFID RTS 28 style).

Units and signs: shares are int; fees in $ (+ = paid, - = rebate), "per 100 shares" = $ per 100 executed
shares; spreads and price improvement in $ per share (+ spread = paid, + improvement = better); fill rate =
executed / routed shares. Midpoint / near side / far side classify each execution's price against the NBBO
at the execution time: at the mid (within 1e-6 $), on our side of the mid (near: a buy below the mid, a
sell above) or on the far side. Order duration = done_ts - sent_ts of the child, seconds.
"""

from __future__ import annotations

import polars as pl

from sor_pipeline.reporting import rule605
from sor_pipeline.reporting.data import ReportData, venue_types
from sor_pipeline.reporting.executions import HORIZONS, PX_EPS
from sor_pipeline.reporting.tables import INT, PCT, PX4, SEC, USD, Table

_605_LABELS = {
    "order_type_605": "order type", "size_bucket": "size", "covered_orders": "covered orders",
    "covered_shares": "covered shares", "cancelled_shares": "cancelled sh",
    "executed_at_center_shares": "exec at venue",
    "executed_away_shares": "exec away", "exec_0_9s_shares": "0–9 s", "exec_10_29s_shares": "10–29 s",
    "exec_30_59s_shares": "30–59 s", "exec_60_299s_shares": "60–299 s", "exec_5_30min_shares": "5–30 min",
    "avg_effective_spread": "eff spread", "price_improved_shares": "PI shares", "avg_price_improvement": "PI $/sh",
    "avg_price_improvement_time_s": "PI time s", "at_quote_shares": "at quote sh", "at_quote_avg_time_s": "at q time s",
    "outside_quote_shares": "outside sh", "outside_quote_avg_amount": "outside $/sh",
    "outside_quote_avg_time_s": "outside time s", **{f"realized_{lab}": f"RS {lab}" for lab, _ in HORIZONS},
}


def venue_quality_tables(data: ReportData) -> list[Table]:
    """Two tables by venue, order type and size bucket: order flow (covered, cancelled, executed, time to
    execution) and prices (effective / realized spreads at every horizon, price improvement, at / outside
    the quote)."""
    agg = rule605.aggregate(data, ["venue", "order_type_605", "size_bucket"])
    agg = agg.with_columns(
        pl.col("order_type_605").replace_strict(rule605.ORDER_TYPE_NAMES, return_dtype=pl.String),
        pl.col("size_bucket").replace_strict(rule605.SIZE_BUCKET_NAMES, return_dtype=pl.String))
    keys = ["venue", "order_type_605", "size_bucket"]
    flow_cols = ["covered_orders", "covered_shares", "cancelled_shares", "executed_at_center_shares",
                 "executed_away_shares", *[n for n, _, _ in rule605.TIME_BUCKETS]]
    price_cols = ["avg_effective_spread", *[f"realized_{lab}" for lab, _ in HORIZONS], "price_improved_shares",
                  "avg_price_improvement", "avg_price_improvement_time_s", "at_quote_shares", "at_quote_avg_time_s",
                  "outside_quote_shares", "outside_quote_avg_amount", "outside_quote_avg_time_s"]
    flow = Table("venue_flow", "Covered orders, cancellations and time to execution (shares)",
                 agg.select(*keys, *flow_cols), formats={c: INT for c in flow_cols}, labels=_605_LABELS,
                 notes=("Covered: child orders of 100–9,999 shares, classified at receipt against the NBBO. "
                        "Executed away is 0: a venue does not re-route our child orders.",))
    fmt = {c: PX4 for c in price_cols} | {c: INT for c in price_cols if c.endswith("_shares")} \
        | {c: SEC for c in price_cols if c.endswith("_time_s")}
    prices = Table("venue_prices", "Effective and realized spreads, price improvement ($ per share)",
                   agg.select(*keys, *price_cols), formats=fmt, labels=_605_LABELS,
                   notes=("Effective spread 2·s·(px − mid(receipt)); realized spread RS h = 2·s·(px − mid(fill + h)); "
                          "+ = paid. Price improvement s·(far touch(receipt) − px) > 0 = better; share-weighted.",))
    return [flow, prices]


def _per_venue_children(data: ReportData) -> pl.DataFrame:
    c = data.children
    dur = (pl.col("done_ts") - pl.col("sent_ts")).dt.total_nanoseconds() / 1e9
    return c.group_by("venue").agg(
        pl.len().alias("child_orders"), pl.col("qty").sum().alias("routed_shares"),
        pl.col("qty").filter(pl.col("tif") == "IOC").sum().alias("ioc_routed_shares"),
        dur.mean().alias("avg_duration_s"))


def routing_table(data: ReportData) -> Table:
    """Rule 606(b)(3)-style routing per venue."""
    ex = data.executions
    side = pl.col("s") * (pl.col("px") - pl.col("fill_mid"))
    at_mid = side.abs() <= PX_EPS
    liq = pl.col("liquidity")
    per_fill = ex.group_by("venue").agg(
        pl.col("qty").sum().alias("executed_shares"),
        pl.col("fee_usd").sum().alias("net_fee_usd"),
        pl.col("qty").filter(at_mid).sum().alias("midpoint_shares"),
        pl.col("qty").filter(~at_mid & (side < 0)).sum().alias("near_side_shares"),
        pl.col("qty").filter(~at_mid & (side > 0)).sum().alias("far_side_shares"),
        pl.col("qty").filter(liq == "ADD").sum().alias("provided_shares"),
        pl.col("fee_usd").filter(liq == "ADD").sum().alias("provided_net_fee_usd"),
        pl.col("qty").filter(liq == "REMOVE").sum().alias("removed_shares"),
        pl.col("fee_usd").filter(liq == "REMOVE").sum().alias("removed_net_fee_usd"))
    t = _per_venue_children(data).join(per_fill, on="venue", how="left").with_columns(
        pl.col("executed_shares", "midpoint_shares", "near_side_shares", "far_side_shares", "provided_shares",
               "removed_shares").fill_null(0),
        pl.col("net_fee_usd", "provided_net_fee_usd", "removed_net_fee_usd").fill_null(0.0))
    exe = pl.col("executed_shares")
    per100 = lambda fee, sh: pl.when(pl.col(sh) > 0).then(pl.col(fee) / pl.col(sh) * 100).otherwise(None)  # noqa: E731
    pct = lambda c: pl.when(exe > 0).then(pl.col(c) / exe).otherwise(None)  # noqa: E731
    t = t.with_columns(
        (exe / pl.col("routed_shares")).alias("fill_rate"),
        per100("net_fee_usd", "executed_shares").alias("net_fee_per_100"),
        pct("midpoint_shares").alias("midpoint_pct"), pct("near_side_shares").alias("near_side_pct"),
        pct("far_side_shares").alias("far_side_pct"),
        per100("provided_net_fee_usd", "provided_shares").alias("provided_fee_per_100"),
        per100("removed_net_fee_usd", "removed_shares").alias("removed_fee_per_100"),
        pl.col("venue").replace_strict(venue_types(data), default="", return_dtype=pl.String).alias("venue_type"))
    cols = ["venue", "venue_type", "routed_shares", "ioc_routed_shares", "executed_shares", "fill_rate",
            "net_fee_usd", "net_fee_per_100", "midpoint_shares", "midpoint_pct", "near_side_shares",
            "near_side_pct", "far_side_shares", "far_side_pct", "provided_shares", "provided_net_fee_usd",
            "provided_fee_per_100", "removed_shares", "removed_net_fee_usd", "removed_fee_per_100", "avg_duration_s"]
    frame = t.select(cols).sort("venue")
    fmt = {c: INT for c in cols if c.endswith("_shares")} | {c: PCT for c in cols if c.endswith(("_pct", "_rate"))} \
        | {c: USD for c in cols if c.endswith(("_usd", "_per_100"))} | {"avg_duration_s": SEC}
    labels = {c: c.replace("_shares", " sh").replace("_usd", " $").replace("_per_100", " $/100sh")
              .replace("_pct", " %").replace("_", " ") for c in cols}
    return Table("routing_606", "Routing by venue, Rule 606(b)(3) style", frame, formats=fmt, labels=labels,
                 notes=("Fees: + = paid, − = rebate; $ per 100 executed shares. Midpoint / near / far: execution "
                        "price vs the NBBO mid at execution (near = our side of the mid). Provided = ADD, "
                        "removed = REMOVE liquidity; midpoint-cross (MID) fills are in neither.",))


def rts28_table(data: ReportData, top: int = 5) -> Table:
    """Top ``top`` venues by executed shares, MiFID RTS 28 style (percentages of the period's totals)."""
    ex = data.executions
    n_fills = pl.len()
    v = ex.group_by("venue").agg(
        pl.col("qty").sum().alias("executed_shares"), pl.struct("date", "child_id").n_unique().alias("executed_orders"),
        ((pl.col("liquidity") == "ADD").sum() / n_fills).alias("passive_pct"),
        ((pl.col("liquidity") == "REMOVE").sum() / n_fills).alias("aggressive_pct"))
    tot_sh = int(ex["qty"].sum()) if not ex.is_empty() else 0
    tot_ord = ex.select("date", "child_id").n_unique() if not ex.is_empty() else 0
    v = v.with_columns(
        (pl.col("executed_shares") / max(tot_sh, 1)).alias("volume_pct"),
        (pl.col("executed_orders") / max(tot_ord, 1)).alias("orders_pct"),
    ).sort(["executed_shares", "venue"], descending=[True, False]).head(top).with_row_index("rank", offset=1)
    frame = v.select(pl.col("rank").cast(pl.Int64), "venue", "executed_shares", "volume_pct", "executed_orders",
                     "orders_pct", "passive_pct", "aggressive_pct")
    return Table("rts28_top5", f"Top {top} venues by executed volume, MiFID RTS 28 style", frame,
                 formats={"executed_shares": INT, "executed_orders": INT} | {c: PCT for c in frame.columns
                                                                               if c.endswith("_pct")},
                 labels={"volume_pct": "% volume", "orders_pct": "% orders", "passive_pct": "% passive",
                         "aggressive_pct": "% aggressive", "executed_shares": "executed shares",
                         "executed_orders": "executed orders"},
                 notes=("% orders: child orders with at least one execution. % passive / % aggressive: share of "
                        "the venue's executions that added / removed liquidity (midpoint crosses are neither).",))


def venue_reference_table(data: ReportData, reference: pl.DataFrame, source: str) -> Table:
    """The venues of the period as the desk's venue reference describes them (code, MIC, name, kind, fee
    schedule, active dates): the one source of venue codes (``ingest.venues``)."""
    seen = sorted(set(data.children["venue"].drop_nulls().to_list()) | set(data.venues["venue"].to_list())
                  if not data.venues.is_empty() else set(data.children["venue"].drop_nulls().to_list()))
    frame = (pl.DataFrame({"venue": seen}, schema={"venue": pl.String})
             .join(reference.select("venue", "mic", "name", "venue_type", "maker_fee_bps", "taker_fee_bps",
                                    pl.col("active_from").cast(pl.String), pl.col("active_to").cast(pl.String)),
                   on="venue", how="left")
             .sort("venue"))
    unknown = frame.filter(pl.col("mic").is_null() & pl.col("name").is_null())["venue"].to_list()
    notes = [f"Venue reference: {source}."]
    if unknown:
        notes.append(f"Not in the reference: {', '.join(unknown)}.")
    return Table("venue_reference", "Venues of the period (venue reference)", frame,
                 formats={"maker_fee_bps": "{:+.2f}", "taker_fee_bps": "{:+.2f}"},
                 labels={"venue": "code", "mic": "MIC", "venue_type": "kind", "maker_fee_bps": "maker fee (bps)",
                         "taker_fee_bps": "taker fee (bps)", "active_from": "active from", "active_to": "active to"},
                 notes=tuple(notes))
