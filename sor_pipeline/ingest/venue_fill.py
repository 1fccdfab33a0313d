"""Complete fills from the venue reference where the source left a field out (a standard FIX drop copy).

- ``liquidity`` null on a fill at a DARK venue -> ``MID`` (a dark pool's fill is a midpoint cross; FIX
  851 LastLiquidityInd has no value for it). Elsewhere it stays null and the row is quarantined,
  naming the column.
- ``fee_bps`` null -> the venue's schedule: ``maker_fee_bps`` for ADD, ``taker_fee_bps`` for REMOVE and
  MID (bps of notional, + = paid, - = rebate).

The venue of a fill is its child order's. Values the source gave are never replaced. Runs on the
drop's tables before validation (:func:`sor_pipeline.ingest.day.ingest_day`).
"""

from __future__ import annotations

import polars as pl


def complete_fills(fills: pl.DataFrame, children: pl.DataFrame, venues: pl.DataFrame) -> pl.DataFrame:
    """``fills`` with null ``liquidity``/``fee_bps`` filled from ``venues`` (columns and order kept)."""
    if fills.height == 0 or not (fills["liquidity"].null_count() or fills["fee_bps"].null_count()):
        return fills
    ref = (children.select("child_id", pl.col("venue").alias("__venue")).unique("child_id", keep="first")
           .join(venues.select(pl.col("venue").alias("__venue"), pl.col("venue_type").alias("__type"),
                               pl.col("maker_fee_bps").cast(pl.Float64).alias("__maker"),
                               pl.col("taker_fee_bps").cast(pl.Float64).alias("__taker")).unique("__venue"),
                 on="__venue", how="left"))
    liq = pl.coalesce(pl.col("liquidity"), pl.when(pl.col("__type") == "DARK").then(pl.lit("MID")))
    fee = pl.coalesce(pl.col("fee_bps"), pl.when(pl.col("liquidity") == "ADD").then(pl.col("__maker"))
                      .when(pl.col("liquidity").is_in(["REMOVE", "MID"])).then(pl.col("__taker")))
    return (fills.join(ref, on="child_id", how="left", maintain_order="left")
            .with_columns(liq.alias("liquidity")).with_columns(fee.alias("fee_bps"))
            .select(fills.columns))
