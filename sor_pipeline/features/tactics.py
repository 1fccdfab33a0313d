"""The router's child-order tactic: how a child is sent to a venue of a given type.

One definition for the simulator's logging router, the backtest's candidate rows and the live
router, because the tactic changes the outcome a venue's model must predict: a LOW-urgency order on
an ECN is posted passively for a short window (DAY, adds liquidity, earns the maker fee), every other
child is a marketable or midpoint IOC.
"""

from __future__ import annotations

import polars as pl


def child_tif(venue_type: str, urgency: str) -> str:
    """``DAY`` for a LOW-urgency child on an ECN (passive post), else ``IOC``."""
    return "DAY" if venue_type == "ECN" and urgency == "LOW" else "IOC"


def is_ioc_expr(venue_type: str = "venue_type", urgency_code: str = "urgency_code") -> pl.Expr:
    """``is_ioc`` feature (1.0 / 0.0) of a candidate (request, venue) row; urgency LOW = code 0."""
    passive = (pl.col(venue_type) == "ECN") & (pl.col(urgency_code) == 0.0)
    return pl.when(passive).then(0.0).otherwise(1.0)
