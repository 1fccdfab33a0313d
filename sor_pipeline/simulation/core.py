"""simulate_day: market generation (or a given market), parent orders, routing, fills and the oracle.

The day is simulated in symbol groups of ``config.symbol_group_size``, each with its own random
stream (seeded by seed, day_index and group), so :func:`iter_day_groups` can stream a big day group by
group and the in-memory :func:`simulate_day` gives exactly the concatenation of the groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from sor_pipeline.simulation.config import DayParams, SimConfig, day_params
from sor_pipeline.simulation.engine import run_guarded, run_waterfall
from sor_pipeline.simulation.market import day_symbols, generate_market, symbol_universe, venues_frame
from sor_pipeline.simulation.orders import generate_parents, slice_requests
from sor_pipeline.simulation.policy import MarketState, RoutingPolicy, StaticWaterfall
from sor_pipeline.simulation.venue_model import market_nbbo, market_symbols

EXEC_TABLES = ("parent_orders", "child_orders", "fills", "venues")
TICK_TABLES = ("quotes", "depth", "trades")
TABLES = EXEC_TABLES + TICK_TABLES


@dataclass
class SimDay:
    """One simulated day: ``tables`` (canonical production tables) and ``oracle`` (SimOracle; never a
    production table), the market state it ran on, and the regimes in force."""

    date: date
    day_index: int
    tables: dict[str, pl.DataFrame]
    oracle: pl.DataFrame
    market: MarketState | None = None
    regimes: list[dict[str, object]] = field(default_factory=list)
    policy_name: str = "static"
    config: SimConfig | None = None


def default_policy(config: SimConfig) -> StaticWaterfall:
    """Static waterfall over the configured venues: dark, then ECN, then lit (config order within a kind)."""
    kind = {"DARK": 0, "ECN": 1, "LIT": 2}
    order = [v.code for v in sorted(config.venues, key=lambda v: kind[v.venue_type])]
    return StaticWaterfall(order)


def _rng(config: SimConfig, day_index: int, group: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([config.seed, day_index, group, stream]))


def simulate_orders(config: SimConfig, day: date, day_index: int, market: MarketState, policy: RoutingPolicy,
                    group: int = 0, id_prefix: str = "") -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Parent orders, routing and fills on a given market (simulated or real).

    Returns the execution tables (parent_orders, child_orders, fills) and the oracle frame."""
    syms = market_symbols(market)
    parents = generate_parents(config, day, syms, market_nbbo(market), _rng(config, day_index, group, 2), id_prefix)
    requests = slice_requests(config, parents, day, _rng(config, day_index, group, 3))
    rng = _rng(config, day_index, group, 4)
    scouted = bool(getattr(policy, "scouted", False))
    ranker, observe = getattr(policy, "ranker", None), getattr(policy, "observe", None)
    if ranker is not None and observe is not None and not scouted:  # a model routes: its guard learns intraday
        # each symbol group starts from the day's morning guard (the evidence of earlier days of this model
        # version, discounted), never from what an earlier group of the same day saw
        getattr(policy, "new_day", lambda _d: None)(day)
        res = run_guarded(config, requests, ranker(requests, market), observe, market, policy.name, rng)
        getattr(policy, "end_day", lambda: None)()
    else:
        ranking = policy.rank(requests, market)
        res = run_waterfall(config, requests, ranking, market, policy.name, rng, scouted=scouted)
    return {"parent_orders": parents, "child_orders": res.child_orders, "fills": res.fills}, res.oracle


def iter_day_groups(config: SimConfig, day: date, day_index: int, policy: RoutingPolicy | None = None,
                    history: object | None = None) -> Iterator[SimDay]:
    """Yield the day one symbol group at a time (each a SimDay over that group's symbols)."""
    params = day_params(config, day_index)
    pol = policy or default_policy(config)
    syms = day_symbols(symbol_universe(config), day_index, params, config.seed)
    size = max(1, config.symbol_group_size)
    for g, start in enumerate(range(0, syms.height, size)):
        group_syms = syms.slice(start, size)
        market = generate_market(config, day, group_syms, params, _rng(config, day_index, g, 1))
        market.history = history
        exec_tables, oracle = simulate_orders(config, day, day_index, market, pol, g)
        tables = {**exec_tables, "venues": market.venues, "quotes": market.quotes, "depth": market.depth,
                  "trades": market.trades}
        yield SimDay(day, day_index, tables, oracle, market, _regimes(params), pol.name, config)


def _regimes(params: DayParams) -> list[dict[str, object]]:
    return [{"kind": r.kind, "venue": r.venue, "factor": r.factor, "start_day": r.start_day, "end_day": r.end_day}
            for r in params.regimes]


def simulate_day(config: SimConfig, day: date, day_index: int, policy: RoutingPolicy | None = None,
                 history: object | None = None, market: MarketState | None = None) -> SimDay:
    """Simulate one trading day in memory.

    With ``market`` given (e.g. replayed real tick data), orders are routed and filled on it and no
    market is generated; otherwise a synthetic market is generated for ``config.n_symbols`` symbols.
    """
    pol = policy or default_policy(config)
    if market is not None:
        market.history = history if history is not None else market.history
        params = market.truth or day_params(config, day_index)
        market.truth = params
        exec_tables, oracle = simulate_orders(config, day, day_index, market, pol)
        tables = {**exec_tables, "venues": market.venues, "quotes": market.quotes, "depth": market.depth,
                  "trades": market.trades}
        return SimDay(day, day_index, tables, oracle, market, _regimes(params), pol.name, config)
    parts = list(iter_day_groups(config, day, day_index, pol, history))
    tables = {name: pl.concat([p.tables[name] for p in parts]) for name in TABLES if name != "venues"}
    tables = {name: (t.sort("ts", maintain_order=True) if name in TICK_TABLES else t) for name, t in tables.items()}
    tables["venues"] = venues_frame(config.venues)
    oracle = pl.concat([p.oracle for p in parts])
    if len(parts) == 1:
        mk = parts[0].market
    else:
        ms = [p.market for p in parts if p.market is not None]
        mk = MarketState(day, tables["quotes"], tables["depth"], tables["trades"], tables["venues"],
                         pl.concat([m.nbbo for m in ms if m.nbbo is not None]).sort("ts", maintain_order=True),
                         history, pl.concat([m.symbols for m in ms if m.symbols is not None]), ms[0].truth)
    return SimDay(day, day_index, {k: tables[k] for k in TABLES}, oracle, mk, parts[0].regimes, pol.name, config)
