"""The ``features`` dataset: one row per routing decision (child order), features + labels.

This is the contract between the feature builder, the trainer, the backtest and the live router.
Features are strictly point-in-time: computed from data at or before ``sent_ts`` (and, for venue
trailing statistics, from earlier trading days only). Labels may look forward.

Sign conventions (docs/DESIGN.md): ``s`` = +1 BUY / -1 SELL.
- ``arrival_slippage_bps`` = s * (avg_fill_px - arrival_mid) / arrival_mid * 1e4 + fee_bps; + = cost.
- ``markout_<h>_bps`` = s * (mid(fill_ts + h) - fill_px) / fill_px * 1e4, qty-weighted over fills;
  + = price moved our way after the fill, - = adverse selection.
"""

from __future__ import annotations

import pandera.polars as pa

from schemas._types import SIDES, TsNsUtc

#: The venue's trailing statistics (20 trading days before the decision's date): the features every
#: candidate row of a venue shares. The one list the batch, online, backtest and history code use.
VENUE_STAT_COLUMNS: list[str] = [
    "venue_fill_rate_20d",
    "venue_time_to_fill_s_20d",
    "venue_markout_5s_bps_20d",
    "venue_markout_60s_bps_20d",
    "venue_slippage_bps_20d",
]

#: Model inputs, in this order, for every venue's models (the feature spec the router ships with).
FEATURE_COLUMNS: list[str] = [
    "side_sign",
    "is_mkt",
    "is_ioc",
    "urgency_code",
    "limit_distance_bps",
    "rel_size_adv",
    "spread_bps",
    "imbalance_5",
    "rvol_5m_bps",
    "size_vs_top3",
    "time_of_day",
    *VENUE_STAT_COLUMNS,
]

#: The inputs of every venue's models (the feature spec the registered model ships with): the
#: features above minus ``is_ioc``. A child's time in force is the router's tactic for the candidate
#: venue (``sor_pipeline.features.tactics``), fully determined by the venue's type (one model per venue) and
#: the urgency (an input); as an input it would only leak the logged venue's tactic into the scores
#: of the other candidate venues (measured: +2.7 bps bias on both ECNs' slippage).
MODEL_FEATURES: list[str] = [c for c in FEATURE_COLUMNS if c != "is_ioc"]

LABEL_COLUMNS: list[str] = [
    "filled",
    "fill_ratio",
    "filled_qty",
    "avg_fill_px",
    "fee_bps",
    "arrival_slippage_bps",
    "time_to_fill_s",
    "markout_1s_bps",
    "markout_5s_bps",
    "markout_30s_bps",
    "markout_60s_bps",
]


class Features(pa.DataFrameModel):
    """Keys, point-in-time features (nullable where history is missing) and forward labels."""

    # keys
    child_id: str = pa.Field(unique=True)
    parent_id: str
    symbol: str
    side: str = pa.Field(isin=SIDES)
    venue: str
    venue_type: str = pa.Field(nullable=True)
    sent_ts: TsNsUtc
    router_policy: str = pa.Field(nullable=True, description="Null when the log does not carry it (standard FIX).")
    route_rank: int = pa.Field(nullable=True, ge=1)
    propensity: float = pa.Field(nullable=True, gt=0, le=1, description="Null: the router logged none.")
    qty: int = pa.Field(gt=0, description="Routed child quantity, shares.")
    arrival_mid: float = pa.Field(gt=0, description="NBBO mid at or before sent_ts.")
    # features (float64; null = unknown, XGBoost handles missing)
    side_sign: float = pa.Field(isin=[-1.0, 1.0], description="+1 BUY, -1 SELL.")
    is_mkt: float = pa.Field(isin=[0.0, 1.0])
    is_ioc: float = pa.Field(isin=[0.0, 1.0])
    urgency_code: float = pa.Field(isin=[0.0, 1.0, 2.0], description="LOW 0, MEDIUM 1, HIGH 2.")
    limit_distance_bps: float = pa.Field(nullable=True, description="s*(limit_px-mid)/mid*1e4; null for MKT.")
    rel_size_adv: float = pa.Field(nullable=True, ge=0, description="qty / trailing 20-day ADV (earlier days).")
    spread_bps: float = pa.Field(nullable=True, description="NBBO (ask-bid)/mid*1e4 at sent_ts.")
    imbalance_5: float = pa.Field(nullable=True, ge=-1, le=1, description="(bid5-ask5)/(bid5+ask5) sizes.")
    rvol_5m_bps: float = pa.Field(nullable=True, ge=0, description="Realized vol of mid, last 300 s, bps.")
    size_vs_top3: float = pa.Field(nullable=True, ge=0, description="qty / far-side size at top 3 levels.")
    time_of_day: float = pa.Field(ge=0, le=1, description="Fraction of the 09:30-16:00 ET session elapsed.")
    venue_fill_rate_20d: float = pa.Field(nullable=True, ge=0, le=1)
    venue_time_to_fill_s_20d: float = pa.Field(nullable=True, ge=0)
    venue_markout_5s_bps_20d: float = pa.Field(nullable=True)
    venue_markout_60s_bps_20d: float = pa.Field(nullable=True)
    venue_slippage_bps_20d: float = pa.Field(nullable=True)
    # labels
    filled: int = pa.Field(isin=[0, 1], description="1 if any quantity filled.")
    fill_ratio: float = pa.Field(ge=0, le=1, description="filled_qty / qty.")
    filled_qty: int = pa.Field(ge=0)
    avg_fill_px: float = pa.Field(nullable=True, gt=0)
    fee_bps: float = pa.Field(nullable=True, description="Qty-weighted fee, bps; + paid, - rebate.")
    arrival_slippage_bps: float = pa.Field(nullable=True, description="+ = cost; null if unfilled.")
    time_to_fill_s: float = pa.Field(nullable=True, ge=0, description="First fill ts - sent_ts, seconds.")
    markout_1s_bps: float = pa.Field(nullable=True)
    markout_5s_bps: float = pa.Field(nullable=True)
    markout_30s_bps: float = pa.Field(nullable=True)
    markout_60s_bps: float = pa.Field(nullable=True)

    class Config:
        coerce = False
        strict = False
