"""TCA datasets: ``tca_child``, ``tca_parent``, ``tca_agg`` (produced by DuckDB SQL under sql/).

Sign conventions (docs/DESIGN.md), s = +1 BUY / -1 SELL, mid(t) = NBBO mid at or before t, receipt = sent_ts:
- arrival slippage = s*(avg_fill_px - mid(sent))/mid(sent)*1e4 + fee_bps; + = cost.
- markout(h) = s*(mid(fill_ts+h) - fill_px)/fill_px*1e4; + = moved our way, - = adverse selection.
- effective spread = 2*s*(fill_px - mid(receipt))/mid(receipt)*1e4; + = paid.
- realized spread(h) = 2*s*(fill_px - mid(fill_ts+h))/mid(receipt)*1e4; + = paid.
- price improvement = s*(far_touch(receipt) - fill_px)/mid(receipt)*1e4 (ask for a buy, bid for a sell);
  + = improvement.
- per-fill metrics are qty-weighted over the child's fills. Costs positive = cost.
"""

from __future__ import annotations

import pandera.polars as pa

from schemas._types import ORDER_TYPES, SIDES, TIFS, TsNsUtc


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
    # keys and context
    parent_id: str
    symbol: str
    side: str = pa.Field(isin=SIDES)
    router_policy: str = pa.Field(nullable=True, description="Null when the log does not carry it (standard FIX).")
    route_rank: int = pa.Field(nullable=True, ge=1)
    order_type: str = pa.Field(isin=ORDER_TYPES)
    tif: str = pa.Field(isin=TIFS)
    qty: int = pa.Field(gt=0, description="Routed shares.")
    sent_ts: TsNsUtc
    # outcome metrics
    fill_rate: float = pa.Field(ge=0, description="filled_qty / qty (can exceed 1 only on an overfill).")
    notional: float = pa.Field(ge=0, description="Sum of fill qty * px, instrument currency.")
    time_to_fill_s: float = pa.Field(nullable=True, ge=0, description="First fill - sent_ts, s.")
    effective_spread_bps: float = pa.Field(nullable=True, description="+ = paid, bps of mid(receipt).")
    realized_spread_1s_bps: float = pa.Field(nullable=True, description="+ = paid (kept by the liquidity provider).")
    realized_spread_5s_bps: float = pa.Field(nullable=True)
    realized_spread_60s_bps: float = pa.Field(nullable=True)
    price_improvement_bps: float = pa.Field(nullable=True, description="+ = better than the far touch.")
    interval_vwap: float = pa.Field(nullable=True, gt=0, description="Market VWAP of prints in [sent, done].")
    interval_vwap_slippage_bps: float = pa.Field(nullable=True, description="s*(avg_px - vwap)/vwap*1e4; + = cost.")
    add_share: float = pa.Field(nullable=True, ge=0, le=1, description="Share of filled qty adding liquidity.")
    remove_share: float = pa.Field(nullable=True, ge=0, le=1)
    mid_share: float = pa.Field(nullable=True, ge=0, le=1)

    class Config:
        coerce = False
        strict = False


class TcaParent(pa.DataFrameModel):
    """One row per parent order: Perold implementation shortfall vs the arrival mid, bps of qty*arrival_mid."""

    parent_id: str = pa.Field(unique=True)
    symbol: str
    side: str = pa.Field(isin=SIDES)
    order_type: str = pa.Field(isin=ORDER_TYPES)
    urgency: str
    strategy: str = pa.Field()  # type: ignore[assignment]  # column name shadows DataFrameModel.strategy
    qty: int = pa.Field(gt=0)
    arrival_ts: TsNsUtc
    arrival_mid: float = pa.Field(nullable=True, gt=0, description="NBBO mid at or before arrival_ts.")
    end_mid: float = pa.Field(nullable=True, gt=0, description="NBBO mid at the end of the order.")
    filled_qty: int = pa.Field(ge=0)
    fill_rate: float = pa.Field(ge=0, description="filled_qty / parent qty.")
    notional: float = pa.Field(ge=0, description="Filled notional, currency.")
    avg_fill_px: float = pa.Field(nullable=True, gt=0)
    fees: float = pa.Field(description="Fees in currency; + paid, - rebate.")
    fees_bps: float = pa.Field(nullable=True)
    execution_cost_bps: float = pa.Field(nullable=True, description="s*(notional - filled*arrival_mid)/paper; + cost.")
    opportunity_cost_bps: float = pa.Field(nullable=True, description="s*unfilled*(end_mid - arrival_mid)/paper.")
    implementation_shortfall_bps: float = pa.Field(nullable=True, description="execution + opportunity + fees.")
    n_children: int = pa.Field(ge=0)
    duration_s: float = pa.Field(ge=0, description="End of order - arrival_ts, seconds.")

    class Config:
        coerce = False
        strict = False


class TcaAgg(pa.DataFrameModel):
    """Aggregates by a dimension (venue, symbol, order type, size bucket, router policy, day)."""

    dimension: str
    key: str
    metric: str
    n: int = pa.Field(ge=0)
    mean: float = pa.Field(nullable=True)
    median: float = pa.Field(nullable=True)
    p95: float = pa.Field(nullable=True)
    sd: float = pa.Field(nullable=True)
    ci_low: float = pa.Field(nullable=True, description="Normal 95% CI of the mean, null below n = 2.")
    ci_high: float = pa.Field(nullable=True)

    class Config:
        coerce = False
        strict = False
