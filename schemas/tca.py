"""TCA datasets: ``tca_child``, ``tca_parent``, ``tca_agg`` (produced by DuckDB SQL under sql/).

Sign conventions (DESIGN.md): costs positive = cost; markouts positive = price moved our way.
The TCA work item extends these models; the column lists below are the floor DESIGN.md fixes.
"""

from __future__ import annotations

import pandera.polars as pa


class TcaChild(pa.DataFrameModel):
    """One row per child order."""

    child_id: str = pa.Field(unique=True)
    venue: str
    arrival_mid: float = pa.Field(nullable=True, gt=0, description="NBBO mid at or before sent_ts.")
    avg_fill_px: float = pa.Field(nullable=True, gt=0, description="Qty-weighted fill price; null if unfilled.")
    filled_qty: int = pa.Field(ge=0, description="Shares filled.")
    fee_bps: float = pa.Field(nullable=True, description="Qty-weighted fee, bps; + paid, - rebate.")
    arrival_slippage_bps: float = pa.Field(nullable=True, description="+ = cost.")
    markout_1s_bps: float = pa.Field(nullable=True, description="+ = moved our way; - = adverse selection.")
    markout_5s_bps: float = pa.Field(nullable=True)
    markout_30s_bps: float = pa.Field(nullable=True)
    markout_60s_bps: float = pa.Field(nullable=True)

    class Config:
        coerce = False
        strict = False


class TcaParent(pa.DataFrameModel):
    """One row per parent order."""

    parent_id: str = pa.Field(unique=True)

    class Config:
        coerce = False
        strict = False


class TcaAgg(pa.DataFrameModel):
    """Aggregates by a dimension (venue, symbol, order type, size bucket, router policy, day)."""

    dimension: str
    key: str
    metric: str
    n: int = pa.Field(ge=0)

    class Config:
        coerce = False
        strict = False
