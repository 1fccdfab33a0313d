"""Routing policies the simulator's logging router can run, and the market state they see.

A policy ranks the venues for each routing request. The simulator applies epsilon-exploration on
top and logs the propensities, then works each request as a waterfall of IOC children.
Costs are in bps, + = cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import polars as pl

if TYPE_CHECKING:
    from sor_pipeline.simulation.config import DayParams

#: Columns of a routing request frame (one row per slice of a parent order about to be routed).
REQUEST_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8(), "parent_id": pl.Utf8(), "symbol": pl.Utf8(), "side": pl.Utf8(),
    "qty": pl.Int64(), "order_type": pl.Utf8(), "tif": pl.Utf8(), "limit_px": pl.Float64(),
    "urgency": pl.Utf8(), "decision_ts": pl.Datetime("ns", "UTC"),
}
#: Columns a policy returns: one row per (request_id, venue).
RANKING_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8(), "venue": pl.Utf8(), "rank": pl.Int64(), "predicted_cost_bps": pl.Float64(),
}


@dataclass
class MarketState:
    """The market of one day in canonical frames (schemas/market.py), plus reference data.

    - ``quotes``/``depth``/``trades``: canonical tick tables (UTC ns), sorted by ``ts``.
    - ``venues``: the Venues reference table. ``nbbo``: the Nbbo table, or None (derive it).
    - ``history``: a :class:`sor_pipeline.storage.lake.Lake` of earlier days, or None.
    - ``symbols``: symbol reference (symbol, price, adv, daily_vol_bps, tick), or None.
    - ``truth``: the simulator's hidden venue parameters for the day. Only the simulator and
      :class:`OraclePolicy` read it; a fair policy must not.

    A policy may only use rows with ``ts`` at or before each request's ``decision_ts``.
    """

    date: date
    quotes: pl.DataFrame
    depth: pl.DataFrame
    trades: pl.DataFrame
    venues: pl.DataFrame
    nbbo: pl.DataFrame | None = None
    history: object | None = None
    symbols: pl.DataFrame | None = None
    truth: DayParams | None = None


@runtime_checkable
class RoutingPolicy(Protocol):
    """Ranks venues per routing request.

    ``rank(requests, market)`` returns one row per (request_id, venue) with ``request_id``, ``venue``,
    ``rank`` (Int64, 1 = first) and ``predicted_cost_bps`` (Float64, nullable; + = cost).
    ``name`` is logged in ``child_orders.router_policy`` (e.g. ``static``, ``model:3``).
    """

    name: str

    def rank(self, requests: pl.DataFrame, market: MarketState) -> pl.DataFrame: ...


class StaticWaterfall:
    """The same fixed venue order for every request (dark, then ECN, then lit); no cost prediction."""

    def __init__(self, order: list[str], name: str = "static") -> None:
        if not order:
            raise ValueError("StaticWaterfall needs at least one venue")
        self.order = list(order)
        self.name = name

    def rank(self, requests: pl.DataFrame, market: MarketState) -> pl.DataFrame:
        ranks = pl.DataFrame({"venue": self.order, "rank": list(range(1, len(self.order) + 1))},
                             schema={"venue": pl.Utf8, "rank": pl.Int64})
        return (requests.select("request_id").join(ranks, how="cross")
                .with_columns(pl.lit(None, dtype=pl.Float64).alias("predicted_cost_bps")))


class OraclePolicy:
    """Ranks venues by their true expected cost (needs ``market.truth``); regret 0 by construction."""

    def __init__(self, name: str = "oracle") -> None:
        self.name = name

    def rank(self, requests: pl.DataFrame, market: MarketState) -> pl.DataFrame:
        from sor_pipeline.simulation.venue_model import price_venues

        points = requests.select(
            pl.col("request_id").alias("key"), "symbol", "side", "qty", "urgency", pl.col("decision_ts").alias("ts"))
        priced = price_venues(points, market)
        return (priced.sort("key", "expected_cost_bps", "venue")
                .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("key").alias("rank"))
                .select(pl.col("key").alias("request_id"), "venue", "rank",
                        pl.col("expected_cost_bps").alias("predicted_cost_bps")))
