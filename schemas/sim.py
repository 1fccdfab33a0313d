"""Simulator ground truth (never a production table): the true expected cost of every venue for
every child order, written by the simulator beside the raw drop and kept in the lake's ``sim_oracle``
dataset so backtests on simulated data can compute regret.

``expected_cost_bps`` = p_fill * slippage_bps + (1 - p_fill) * fallback_bps (sor_pipeline.learning.costs),
positive = cost.
"""

from __future__ import annotations

import pandera.polars as pa


class SimOracle(pa.DataFrameModel):
    child_id: str = pa.Field(description="Child order (routing decision) this row prices.")
    venue: str = pa.Field(description="Candidate venue.")
    venue_type: str = pa.Field(isin=["DARK", "ECN", "LIT"])
    p_fill: float = pa.Field(ge=0, le=1, description="True probability the child fills at this venue.")
    slippage_bps: float = pa.Field(description="True expected arrival slippage given a fill, bps, fees incl.")
    fallback_bps: float = pa.Field(description="True cost of sweeping the unfilled remainder on lit, bps.")
    expected_cost_bps: float = pa.Field(description="True expected cost of routing here, bps (+ = cost).")

    class Config:
        coerce = False
        strict = False
