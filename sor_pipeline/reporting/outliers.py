"""Outliers: executions outside the NBBO at their own time, and the worst slippage, with their ids.

- outside the NBBO: a buy above the NBBO ask or a sell below the NBBO bid at the fill time; ``outside``
  = $ per share beyond that far touch (> 0), ``outside_bps`` = the same in bps of the NBBO mid at the fill.
- worst slippage: child orders with the highest arrival slippage (bps, + = cost) and parent orders with the
  highest implementation shortfall (bps, + = cost). Ties break on the id, so the order is stable.
"""

from __future__ import annotations

import polars as pl

from sor_pipeline.reporting.data import ReportData
from sor_pipeline.reporting.tables import BPS, INT, PX4, Table

MAX_ROWS = 25


def outside_nbbo_table(data: ReportData, limit: int = MAX_ROWS) -> Table:
    ex = data.executions.filter(pl.col("outside_nbbo_at_fill"))
    total = ex.height
    frame = (ex.with_columns((pl.col("outside_by") / pl.col("fill_mid") * 1e4).alias("outside_bps"))
             .sort(["outside_by", "exec_id"], descending=[True, False]).head(limit)
             .select("exec_id", "child_id", "parent_id", "date",
                     pl.col("ts").dt.strftime("%H:%M:%S%.6f").alias("time_utc"),
                     "venue", "symbol", "side", "qty", "px", pl.col("fill_bid").alias("nbbo_bid"),
                     pl.col("fill_ask").alias("nbbo_ask"), pl.col("outside_by").alias("outside_usd"), "outside_bps"))
    return Table("outside_nbbo", f"Executions outside the NBBO at fill time ({total} in the period)", frame,
                 formats={"qty": INT, "px": PX4, "nbbo_bid": PX4, "nbbo_ask": PX4, "outside_usd": PX4,
                          "outside_bps": BPS},
                 labels={"time_utc": "time (UTC)", "outside_usd": "outside $/sh", "outside_bps": "outside bps"},
                 notes=(f"Largest {limit} shown. Buy above the ask or sell below the bid of the NBBO at the "
                        "execution time.",))


def worst_children_table(data: ReportData, limit: int = 10) -> Table:
    t = data.tca_child.filter(pl.col("arrival_slippage_bps").is_not_null()) if not data.tca_child.is_empty() \
        else data.tca_child
    execs = data.executions.group_by("date", "child_id").agg(pl.col("exec_id").sort().str.join(" ").alias("exec_ids"))
    frame = (t.sort(["arrival_slippage_bps", "child_id"], descending=[True, False]).head(limit)
             .join(execs, on=["date", "child_id"], how="left", maintain_order="left")
             .select("child_id", "exec_ids", "parent_id", "date", "venue", "symbol", "side", "filled_qty",
                     "avg_fill_px", "arrival_mid", "fee_bps", "arrival_slippage_bps"))
    return Table("worst_children", f"Worst {limit} child orders by arrival slippage (bps, + = cost)", frame,
                 formats={"filled_qty": INT, "avg_fill_px": PX4, "arrival_mid": PX4, "fee_bps": BPS,
                          "arrival_slippage_bps": BPS},
                 labels={"exec_ids": "exec ids", "arrival_slippage_bps": "slippage bps", "fee_bps": "fee bps"})


def worst_parents_table(data: ReportData, limit: int = 10) -> Table:
    t = data.tca_parent.filter(pl.col("implementation_shortfall_bps").is_not_null()) \
        if not data.tca_parent.is_empty() else data.tca_parent
    frame = (t.sort(["implementation_shortfall_bps", "parent_id"], descending=[True, False]).head(limit)
             .select("parent_id", "date", "symbol", "side", "qty", "filled_qty", "execution_cost_bps",
                     "opportunity_cost_bps", "fees_bps", "implementation_shortfall_bps"))
    return Table("worst_parents", f"Worst {limit} parent orders by implementation shortfall (bps, + = cost)", frame,
                 formats={"qty": INT, "filled_qty": INT} | {c: BPS for c in frame.columns if c.endswith("_bps")},
                 labels={"execution_cost_bps": "execution", "opportunity_cost_bps": "opportunity",
                         "fees_bps": "fees", "implementation_shortfall_bps": "IS bps"})


def outlier_tables(data: ReportData) -> list[Table]:
    return [outside_nbbo_table(data), worst_children_table(data), worst_parents_table(data)]
