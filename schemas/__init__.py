"""Canonical data contracts as pandera DataFrameModels (polars backend).

Tables, dtypes, units and sign conventions follow docs/DESIGN.md. ``TABLE_SCHEMAS`` maps each canonical
table name to its model; ``UNIQUE_KEYS`` names the id column that must be unique per day.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas._types import TS_NS_UTC
from schemas.features import FEATURE_COLUMNS, LABEL_COLUMNS, MODEL_FEATURES, Features
from schemas.market import Depth, Nbbo, Quotes, Trades
from schemas.orders import ChildOrders, Fills, ParentOrders, Venues
from schemas.quarantine import Quarantine
from schemas.sim import SimOracle
from schemas.tca import TcaAgg, TcaChild, TcaParent

TABLE_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "parent_orders": ParentOrders,
    "child_orders": ChildOrders,
    "fills": Fills,
    "venues": Venues,
    "quotes": Quotes,
    "nbbo": Nbbo,
    "depth": Depth,
    "trades": Trades,
    "quarantine": Quarantine,
    "features": Features,
    "tca_child": TcaChild,
    "tca_parent": TcaParent,
    "tca_agg": TcaAgg,
    "sim_oracle": SimOracle,
}

UNIQUE_KEYS: dict[str, str] = {
    "parent_orders": "parent_id",
    "child_orders": "child_id",
    "fills": "exec_id",
    "venues": "venue",
    "features": "child_id",
}


def columns_of(model: type[pa.DataFrameModel]) -> dict[str, pl.DataType]:
    """Column name -> polars dtype, in declaration order."""
    return {name: col.dtype.type for name, col in model.to_schema().columns.items()}


def empty_frame(model: type[pa.DataFrameModel]) -> pl.DataFrame:
    return pl.DataFrame(schema=columns_of(model))


__all__ = [
    "FEATURE_COLUMNS",
    "LABEL_COLUMNS",
    "MODEL_FEATURES",
    "TABLE_SCHEMAS",
    "TS_NS_UTC",
    "UNIQUE_KEYS",
    "ChildOrders",
    "Depth",
    "Features",
    "Fills",
    "Nbbo",
    "ParentOrders",
    "Quarantine",
    "Quotes",
    "SimOracle",
    "TcaAgg",
    "TcaChild",
    "TcaParent",
    "Trades",
    "Venues",
    "columns_of",
    "empty_frame",
]
