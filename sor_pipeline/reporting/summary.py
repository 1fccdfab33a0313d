"""Summary section: volume and cost by side (bps, + = cost).

- arrival slippage (bps, per filled child order, from ``tca_child``) = s*(avg_fill_px - mid(sent))/mid*1e4
  + fee_bps.
- implementation shortfall (bps of paper notional, per parent order, from ``tca_parent``) = execution +
  opportunity + fees, + = cost.
Means carry a 95% confidence interval (Student t over orders); the distribution is p5/p25/median/p75/p95.
"""

from __future__ import annotations

import polars as pl

from sor_pipeline.reporting.data import ReportData
from sor_pipeline.reporting.tables import BPS, INT, USD, Table, describe

SIDES = ("BUY", "SELL", "ALL")


def _side(frame: pl.DataFrame, side: str) -> pl.DataFrame:
    return frame if side == "ALL" or frame.is_empty() else frame.filter(pl.col("side") == side)


def volume_table(data: ReportData) -> Table:
    """Per side: parent orders, ordered shares, child orders, routed/filled shares, filled notional ($)."""
    rows = []
    for side in SIDES:
        p, c, t = _side(data.parents, side), _side(data.children, side), _side(data.tca_child, side)
        filled = int(t["filled_qty"].sum()) if not t.is_empty() else 0
        ordered = int(p["qty"].sum()) if not p.is_empty() else 0
        rows.append({"side": side, "parent_orders": p.height, "ordered_shares": ordered,
                     "child_orders": c.height, "routed_shares": int(c["qty"].sum()) if not c.is_empty() else 0,
                     "filled_shares": filled,
                     "notional_usd": float(t["notional"].sum()) if not t.is_empty() else 0.0})
    frame = pl.DataFrame(rows, schema={"side": pl.String, "parent_orders": pl.Int64, "ordered_shares": pl.Int64,
                                       "child_orders": pl.Int64, "routed_shares": pl.Int64,
                                       "filled_shares": pl.Int64, "notional_usd": pl.Float64})
    return Table("volume", "Orders, shares and notional by side", frame,
                 formats={c: INT for c in frame.columns[1:-1]} | {"notional_usd": USD},
                 labels={"parent_orders": "parent orders", "ordered_shares": "ordered shares",
                         "child_orders": "child orders", "routed_shares": "routed shares",
                         "filled_shares": "filled shares", "notional_usd": "filled notional ($)"})


def _cost_table(key: str, caption: str, frame: pl.DataFrame, column: str, unit_note: str) -> Table:
    rows = []
    for side in SIDES:
        sub = _side(frame, side)
        d = describe(sub[column] if not sub.is_empty() else pl.Series([], dtype=pl.Float64))
        rows.append({"side": side, **d})
    out = pl.DataFrame(rows, schema={"side": pl.String, "n": pl.Int64, "mean": pl.Float64, "median": pl.Float64,
                                     "sd": pl.Float64, "p5": pl.Float64, "p25": pl.Float64, "p75": pl.Float64,
                                     "p95": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64})
    return Table(key, caption, out, formats={"n": INT} | {c: BPS for c in out.columns[2:]},
                 labels={"ci_low": "95% CI low", "ci_high": "95% CI high"}, notes=(unit_note,))


def slippage_table(data: ReportData) -> Table:
    """Arrival slippage of filled child orders by side (bps, + = cost)."""
    filled = data.tca_child.filter(pl.col("arrival_slippage_bps").is_not_null()) if not data.tca_child.is_empty() \
        else data.tca_child
    return _cost_table("arrival_slippage", "Arrival slippage per filled child order (bps, + = cost)", filled,
                       "arrival_slippage_bps",
                       "s·(avg fill px − NBBO mid at send)/mid·10⁴ + fee bps; 95% CI of the mean: Student t.")


def shortfall_table(data: ReportData) -> Table:
    """Implementation shortfall per parent order by side (bps of qty × arrival mid, + = cost)."""
    return _cost_table("implementation_shortfall", "Implementation shortfall per parent order (bps, + = cost)",
                       data.tca_parent, "implementation_shortfall_bps",
                       "Execution cost + opportunity cost of the unfilled quantity at the end-of-order mid + "
                       "fees, in bps of qty × arrival mid.")


def summary_tables(data: ReportData) -> list[Table]:
    return [volume_table(data), slippage_table(data), shortfall_table(data)]
