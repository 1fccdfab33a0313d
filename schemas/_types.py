"""Shared dtypes and allowed values of the canonical tables."""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

#: UTC timestamp, nanoseconds. A bare ``pl.Datetime`` would mean microseconds with no zone.
TS_NS_UTC = pl.Datetime("ns", "UTC")
#: The same, as a type annotation for pandera DataFrameModel fields.
TsNsUtc = Annotated[pl.Datetime, "ns", "UTC"]

SIDES = ["BUY", "SELL"]
ORDER_TYPES = ["MKT", "LMT"]
TIFS = ["IOC", "DAY"]
URGENCIES = ["LOW", "MEDIUM", "HIGH"]
LIQUIDITY = ["ADD", "REMOVE", "MID"]
CHILD_STATUSES = ["FILLED", "PARTIAL", "CANCELLED", "REJECTED"]
VENUE_TYPES = ["DARK", "ECN", "LIT"]


def finite_values(data: pa.PolarsData) -> pl.LazyFrame:
    """Column check ``finite``: a float is a number, not inf or NaN (``gt=0`` alone lets ``inf`` pass).
    Nulls are left to the column's ``nullable``."""
    return data.lazyframe.select(pl.col(data.key).is_finite())
