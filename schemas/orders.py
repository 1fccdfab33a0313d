"""Execution-log tables: ``parent_orders``, ``child_orders``, ``fills``, and the ``venues`` reference.

Sign conventions (docs/DESIGN.md): ``side`` BUY means s=+1, SELL s=-1; ``fee_bps`` positive = paid,
negative = rebate; ``predicted_cost_bps`` positive = cost.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas._types import (
    CHILD_STATUSES,
    LIQUIDITY,
    ORDER_TYPES,
    SIDES,
    TIFS,
    URGENCIES,
    VENUE_TYPES,
    TsNsUtc,
    finite_values,
)


class ParentOrders(pa.DataFrameModel):
    """One row per institutional (parent) order."""

    parent_id: str = pa.Field(unique=True, description="Parent order id, unique per day.")
    date: pl.Date = pa.Field(description="Trading date (exchange calendar).")
    symbol: str = pa.Field(str_length={"min_value": 1}, description="Instrument symbol.")
    side: str = pa.Field(isin=SIDES, description="BUY (s=+1) or SELL (s=-1).")
    qty: int = pa.Field(gt=0, description="Order quantity, shares (int64).")
    order_type: str = pa.Field(isin=ORDER_TYPES, description="MKT or LMT.")
    limit_px: float = pa.Field(nullable=True, gt=0, description="Limit price, instrument currency; null for MKT.")
    urgency: str = pa.Field(isin=URGENCIES, description="Trader urgency: LOW, MEDIUM, HIGH.")
    arrival_ts: TsNsUtc = pa.Field(description="Arrival at the desk, UTC ns; the IS benchmark time.")
    client_id: str = pa.Field(description="Pseudonymous client id (never a real name).")
    strategy: str = pa.Field(  # type: ignore[assignment]  # column name shadows DataFrameModel.strategy
        description="Execution strategy label (e.g. VWAP, IS, DARK)."
    )

    @pa.dataframe_check(name="limit_px required for LMT")
    def limit_has_price(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("order_type") != "LMT") | pl.col("limit_px").is_not_null())

    @pa.check("limit_px", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite_values(data)

    class Config:
        coerce = False
        strict = False


class ChildOrders(pa.DataFrameModel):
    """One row per routing decision (a child order sent to one venue)."""

    child_id: str = pa.Field(unique=True, description="Child order id, unique per day.")
    parent_id: str = pa.Field(description="Owning parent order.")
    symbol: str = pa.Field(str_length={"min_value": 1})
    side: str = pa.Field(isin=SIDES, description="BUY (s=+1) or SELL (s=-1).")
    venue: str = pa.Field(str_length={"min_value": 1}, description="Venue code (MIC-like).")
    order_type: str = pa.Field(isin=ORDER_TYPES)
    tif: str = pa.Field(isin=TIFS, description="Time in force: IOC or DAY.")
    limit_px: float = pa.Field(nullable=True, gt=0, description="Limit price; null for MKT.")
    qty: int = pa.Field(gt=0, description="Routed quantity, shares.")
    sent_ts: TsNsUtc = pa.Field(description="Decision/send time, UTC ns: the point-in-time cut.")
    router_policy: str = pa.Field(nullable=True, description="Logging policy: 'static' or 'model:<version>' "
                                  "(+ '/explore'); null when the log does not carry it (a standard FIX drop copy).")
    route_rank: int = pa.Field(nullable=True, ge=1, description="Position of this venue in the routing waterfall "
                               "(1 = first); null when the log does not carry it.")
    propensity: float = pa.Field(nullable=True, gt=0, le=1, description="P(logging policy chose this venue), for "
                                 "off-policy eval; null when the router logs none (no off-policy verdict).")
    predicted_cost_bps: float = pa.Field(nullable=True, description="Router's expected cost, bps (+ = cost).")
    status: str = pa.Field(isin=CHILD_STATUSES, description="Final outcome of the child order.")
    done_ts: TsNsUtc = pa.Field(nullable=True, description="Time of the final outcome, UTC ns.")

    @pa.dataframe_check(name="limit_px required for LMT")
    def limit_has_price(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("order_type") != "LMT") | pl.col("limit_px").is_not_null())

    @pa.dataframe_check(name="done_ts not before sent_ts")
    def done_after_sent(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("done_ts").is_null() | (pl.col("done_ts") >= pl.col("sent_ts")))

    @pa.check("limit_px", "propensity", "predicted_cost_bps", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite_values(data)

    class Config:
        coerce = False
        strict = False


class Fills(pa.DataFrameModel):
    """One row per execution report with a fill. Cancels/rejects are child outcomes, not fills."""

    exec_id: str = pa.Field(unique=True, description="Execution id, unique per day.")
    child_id: str = pa.Field(description="Child order that was filled.")
    ts: TsNsUtc = pa.Field(description="Execution time, UTC ns.")
    qty: int = pa.Field(gt=0, description="Filled quantity, shares.")
    px: float = pa.Field(gt=0, description="Fill price, instrument currency.")
    liquidity: str = pa.Field(isin=LIQUIDITY, description="ADD (passive), REMOVE (aggressive), MID (midpoint).")
    fee_bps: float = pa.Field(ge=-100, le=100, description="Fee in bps of notional; + = paid, - = rebate.")

    @pa.check("px", "fee_bps", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite_values(data)

    class Config:
        coerce = False
        strict = False


class Venues(pa.DataFrameModel):
    """Reference: the venues of a day with their kind and fee schedule."""

    venue: str = pa.Field(unique=True, description="Venue code.")
    venue_type: str = pa.Field(isin=VENUE_TYPES, description="DARK, ECN or LIT.")
    maker_fee_bps: float = pa.Field(ge=-100, le=100, description="Fee for adding liquidity, bps; - = rebate.")
    taker_fee_bps: float = pa.Field(ge=-100, le=100, description="Fee for removing liquidity, bps; - = rebate.")

    @pa.check("maker_fee_bps", "taker_fee_bps", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite_values(data)

    class Config:
        coerce = False
        strict = False
