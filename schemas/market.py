"""Tick tables: ``quotes`` (venue top of book), ``nbbo`` (derived), ``depth`` (5 levels), ``trades``.

Prices are float64 in the instrument currency, sizes int64 shares, timestamps UTC ns.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas._types import TsNsUtc, finite_values

DEPTH_LEVELS = 5
DEPTH_PX = [f"{side}_px_{k}" for k in range(1, DEPTH_LEVELS + 1) for side in ("bid", "ask")]


class Quotes(pa.DataFrameModel):
    """Venue top of book. A zero, crossed or otherwise unusable quote must carry ``flag``."""

    ts: TsNsUtc = pa.Field(description="Quote time, UTC ns.")
    symbol: str = pa.Field(str_length={"min_value": 1})
    venue: str = pa.Field(str_length={"min_value": 1})
    bid_px: float = pa.Field(ge=0, description="Best bid price; 0 only when flagged.")
    bid_sz: int = pa.Field(ge=0, description="Best bid size, shares.")
    ask_px: float = pa.Field(ge=0, description="Best ask price; 0 only when flagged.")
    ask_sz: int = pa.Field(ge=0, description="Best ask size, shares.")
    flag: str = pa.Field(nullable=True, description="Why the quote is not usable (ZERO, CROSSED, ...); null = good.")

    @pa.dataframe_check(name="bid <= ask and positive prices unless flagged")
    def sane_unless_flagged(cls, data: pa.PolarsData) -> pl.LazyFrame:
        ok = (pl.col("bid_px") > 0) & (pl.col("ask_px") > 0) & (pl.col("bid_px") <= pl.col("ask_px"))
        return data.lazyframe.select(ok | pl.col("flag").is_not_null())

    @pa.check("bid_px", "ask_px", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite_values(data)

    class Config:
        coerce = False
        strict = False


class Nbbo(pa.DataFrameModel):
    """National best bid and offer per symbol, derived from unflagged venue quotes."""

    ts: TsNsUtc = pa.Field(description="Time the NBBO changed, UTC ns.")
    symbol: str = pa.Field(str_length={"min_value": 1})
    bid_px: float = pa.Field(gt=0, description="Best bid across venues.")
    bid_sz: int = pa.Field(ge=0, description="Size at the best bid, all venues, shares.")
    ask_px: float = pa.Field(gt=0, description="Best ask across venues.")
    ask_sz: int = pa.Field(ge=0, description="Size at the best ask, all venues, shares.")
    mid_px: float = pa.Field(gt=0, description="(bid_px + ask_px) / 2.")
    flag: str = pa.Field(nullable=True, description="LOCKED or CROSSED across venues; null = normal.")

    @pa.dataframe_check(name="bid <= ask unless flagged")
    def not_crossed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("bid_px") <= pl.col("ask_px")) | pl.col("flag").is_not_null())

    @pa.check("bid_px", "ask_px", "mid_px", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite_values(data)

    class Config:
        coerce = False
        strict = False



class Depth(pa.DataFrameModel):
    """Venue book, levels 1..5 wide. Level 1 is required; deeper levels may be empty (null)."""

    ts: TsNsUtc = pa.Field(description="Snapshot time, UTC ns.")
    symbol: str = pa.Field(str_length={"min_value": 1})
    venue: str = pa.Field(str_length={"min_value": 1})
    bid_px_1: float = pa.Field(gt=0)
    bid_sz_1: int = pa.Field(ge=0)
    ask_px_1: float = pa.Field(gt=0)
    ask_sz_1: int = pa.Field(ge=0)
    bid_px_2: float = pa.Field(nullable=True, gt=0)
    bid_sz_2: int = pa.Field(nullable=True, ge=0)
    ask_px_2: float = pa.Field(nullable=True, gt=0)
    ask_sz_2: int = pa.Field(nullable=True, ge=0)
    bid_px_3: float = pa.Field(nullable=True, gt=0)
    bid_sz_3: int = pa.Field(nullable=True, ge=0)
    ask_px_3: float = pa.Field(nullable=True, gt=0)
    ask_sz_3: int = pa.Field(nullable=True, ge=0)
    bid_px_4: float = pa.Field(nullable=True, gt=0)
    bid_sz_4: int = pa.Field(nullable=True, ge=0)
    ask_px_4: float = pa.Field(nullable=True, gt=0)
    ask_sz_4: int = pa.Field(nullable=True, ge=0)
    bid_px_5: float = pa.Field(nullable=True, gt=0)
    bid_sz_5: int = pa.Field(nullable=True, ge=0)
    ask_px_5: float = pa.Field(nullable=True, gt=0)
    ask_sz_5: int = pa.Field(nullable=True, ge=0)

    @pa.dataframe_check(name="level-1 bid < ask")
    def not_crossed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("bid_px_1") < pl.col("ask_px_1"))

    @pa.dataframe_check(name="book levels ordered")
    def levels_ordered(cls, data: pa.PolarsData) -> pl.LazyFrame:
        ok = pl.lit(True)
        for k in range(1, DEPTH_LEVELS):
            ok = ok & (pl.col(f"bid_px_{k + 1}").is_null() | (pl.col(f"bid_px_{k + 1}") < pl.col(f"bid_px_{k}")))
            ok = ok & (pl.col(f"ask_px_{k + 1}").is_null() | (pl.col(f"ask_px_{k + 1}") > pl.col(f"ask_px_{k}")))
        return data.lazyframe.select(ok.fill_null(False))

    @pa.check(*DEPTH_PX, name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite_values(data)

    class Config:
        coerce = False
        strict = False


class Trades(pa.DataFrameModel):
    """Public prints on a venue."""

    ts: TsNsUtc = pa.Field(description="Trade time, UTC ns.")
    symbol: str = pa.Field(str_length={"min_value": 1})
    venue: str = pa.Field(str_length={"min_value": 1})
    px: float = pa.Field(gt=0, description="Trade price.")
    qty: int = pa.Field(gt=0, description="Trade size, shares.")
    cond: str = pa.Field(nullable=True, description="Sale condition code(s) as reported; null if none.")

    @pa.check("px", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite_values(data)

    class Config:
        coerce = False
        strict = False
