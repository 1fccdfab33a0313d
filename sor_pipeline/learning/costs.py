"""The expected-cost formula shared by the simulator's oracle, the trainer, the backtest and the router.

A venue's score for one routing request is an expected arrival cost in bps (+ = cost):

    expected_cost_bps(v) = p_fill(v) * slippage_bps(v) + (1 - p_fill(v)) * fallback_bps

where ``slippage_bps(v)`` is the expected arrival slippage (fees included) *given* a fill at ``v``,
``p_fill(v)`` the probability the child fills there, and ``fallback_bps`` the cost of the unfilled
remainder, which is swept on the lit market: the lowest expected slippage among LIT venues for the
same request (lit venues fill marketable orders with certainty, at a cost).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]


def expected_cost_bps(p_fill: FloatArray | float, slippage_bps: FloatArray | float,
                      fallback_bps: FloatArray | float) -> FloatArray:
    """Vectorised expected cost, bps; ``p_fill`` is clipped to [0, 1]."""
    p = np.clip(np.asarray(p_fill, dtype=np.float64), 0.0, 1.0)
    return p * np.asarray(slippage_bps, dtype=np.float64) + (1.0 - p) * np.asarray(fallback_bps, dtype=np.float64)


def expected_cost_expr(p_fill: str = "p_fill", slippage: str = "slippage_bps",
                       fallback: str = "fallback_bps") -> pl.Expr:
    """The same formula as a polars expression over columns."""
    p = pl.col(p_fill).clip(0.0, 1.0)
    return p * pl.col(slippage) + (1.0 - p) * pl.col(fallback)


def with_fallback(scores: pl.DataFrame, *, request: str = "request_id", venue_type: str = "venue_type",
                  slippage: str = "slippage_bps") -> pl.DataFrame:
    """Add ``fallback_bps`` = min LIT slippage per request (or min over all venues if no LIT) and
    ``expected_cost_bps``. ``scores`` has one row per (request, venue) with ``p_fill``."""
    lit_min = pl.col(slippage).filter(pl.col(venue_type) == "LIT").min().over(request)
    any_min = pl.col(slippage).min().over(request)
    return scores.with_columns(pl.coalesce(lit_min, any_min).alias("fallback_bps")).with_columns(
        expected_cost_expr(slippage=slippage).alias("expected_cost_bps")
    )


def realized_cost_expr(fallback_bps: pl.Expr, fill_ratio: str = "fill_ratio",
                       slippage: str = "arrival_slippage_bps") -> pl.Expr:
    """Realised cost of a logged child, bps (+ = cost): the filled share (clipped to [0, 1]; null or NaN =
    no fill) at its arrival slippage (null = 0) and the unfilled share at ``fallback_bps``, the cost of
    sweeping the remainder on the lit market. The one definition the backtest's off-policy estimates and
    the monitor's model checks use."""
    ratio = pl.col(fill_ratio).fill_nan(None).fill_null(0.0).clip(0.0, 1.0)
    slip = pl.col(slippage).fill_nan(None).fill_null(0.0)
    return ratio * slip + (1.0 - ratio) * fallback_bps
