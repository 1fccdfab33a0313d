"""Replay: route and fill the simulator's child orders against real tick data (LOBSTER, TAQ).

The simulator's venue model reads everything from the market as of each decision time (as-of
joins by venue code), so a replay only has to build a market and a venue list that match the
real feed:

- **LOBSTER** (one book, venue ``XNAS``, 5 levels): lit venue ``XNAS``, whose marketable IOCs walk
  the real 5-level book (beyond the displayed depth: the simulator's square-root impact term), plus
  the default simulated dark pools (``DRK1``, ``DRK2``), which fill at the real NBBO mid at fill
  time moved against us by their adverse-selection term ``toxicity * (1 + 3 sqrt(1000 qty/ADV))``
  bps (+ N(0, 0.5) bps noise, see :mod:`sor_pipeline.simulation.venue_model`). No ECNs: an ECN would
  need synthetic quotes, i.e. displayed liquidity that the real tape never had, so every lit price
  in a LOBSTER replay is real.
- **TAQ** (one top of book per exchange): one LIT venue per venue code in the quotes (as the TAQ
  adapter maps exchange codes, e.g. XNYS, ARCX, BATS, XADF), each with a level-1 "book" built
  from its own quotes (a flagged or zero side is an empty book: the order then pays impact off the
  NBBO far touch). No dark pools by default (``with_dark=True`` adds them).

The NBBO (``build_nbbo`` over the real quotes) gives arrival mids, dark fill mids and the mid path
that :func:`fill_markouts` reads. Symbol reference (ADV, daily volatility) is estimated from the
day's tape. Venue fees are generic assumptions (LIT: -0.20 bps maker rebate, +0.30 bps taker), not
any exchange's schedule. Regimes are off (``regimes=[]``): the truth is the base venue model.
Units: prices in currency, sizes in shares, timestamps UTC ns, costs in bps (+ = cost).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl

from schemas._types import TS_NS_UTC
from sor_pipeline.simulation.config import SimConfig, VenueSpec, day_params, default_venues
from sor_pipeline.simulation.core import SimDay, simulate_day
from sor_pipeline.simulation.market import venues_frame
from sor_pipeline.simulation.policy import MarketState, RoutingPolicy

LEVELS = 5
LIT_MAKER_BPS = -0.20
LIT_TAKER_BPS = 0.30
MARKOUT_HORIZONS_S = (1, 5, 30, 60)
#: Marks ``market.depth`` rows built from quotes (level 1 only), as opposed to a real book.
FROM_QUOTES = "_from_quotes"
_TICK_TABLES = ("quotes", "depth", "trades")


def depth_columns() -> dict[str, pl.DataType]:
    from sor_pipeline.ingest.base import canonical_columns

    return canonical_columns("depth")


def level1_depth(quotes: pl.DataFrame) -> pl.DataFrame:
    """A canonical ``depth`` frame with level 1 = each venue's quote (sides of flagged quotes and
    prices <= 0 empty: px null, size 0) and levels 2..5 empty."""
    ok = pl.col("flag").is_null() if "flag" in quotes.columns else pl.lit(True)
    exprs: list[pl.Expr] = [pl.col("ts"), pl.col("symbol"), pl.col("venue")]
    for side in ("bid", "ask"):
        live = ok & (pl.col(f"{side}_px") > 0)
        exprs += [pl.when(live).then(pl.col(f"{side}_px")).otherwise(None).alias(f"{side}_px_1"),
                  pl.when(live).then(pl.col(f"{side}_sz")).otherwise(0).alias(f"{side}_sz_1")]
    cols = depth_columns()
    frame = quotes.select(exprs)
    return frame.select([pl.col(c).cast(d) if c in frame.columns else pl.lit(None, dtype=d).alias(c)
                         for c, d in cols.items()]).with_columns(pl.lit(True).alias(FROM_QUOTES))


def replay_venues(quotes: pl.DataFrame, depth: pl.DataFrame | None, with_dark: bool | None = None) -> list[VenueSpec]:
    """The replay's venue list: one LIT venue per venue code quoted (sorted by code), plus the default
    dark pools when ``with_dark`` (default: only when a real multi-level book is given, i.e. LOBSTER)."""
    codes = sorted(quotes.get_column("venue").unique().to_list())
    lit = [VenueSpec(c, "LIT", LIT_MAKER_BPS, LIT_TAKER_BPS, latency_us=350.0) for c in codes]
    has_book = depth is not None and depth.height > 0
    dark = [v for v in default_venues() if v.venue_type == "DARK"] if (has_book if with_dark is None else with_dark) \
        else []
    return dark + lit


def replay_config(quotes: pl.DataFrame, depth: pl.DataFrame | None = None, *, seed: int = 7,
                  parent_orders_per_symbol: int = 200, with_dark: bool | None = None, **overrides: object) -> SimConfig:
    """A SimConfig whose venues match the real feed (see the module docstring); no regimes."""
    kw: dict[str, object] = dict(seed=seed, venues=replay_venues(quotes, depth, with_dark), regimes=[],
                                 parent_orders_per_symbol=parent_orders_per_symbol)
    kw.update(overrides)
    return SimConfig(**kw)  # type: ignore[arg-type]


def _canonical_ticks(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Tick tables without lineage columns, sorted by ts (empty canonical frames where absent)."""
    from sor_pipeline.ingest.base import canonical_columns

    out = {}
    for name in _TICK_TABLES:
        cols = canonical_columns(name)
        frame = tables.get(name)
        frame = pl.DataFrame(schema=cols) if frame is None else frame.select(
            [pl.col(c) if c in frame.columns else pl.lit(None, dtype=d).alias(c) for c, d in cols.items()])
        out[name] = frame.with_columns(pl.col("ts").cast(TS_NS_UTC)).sort("ts", maintain_order=True)
    return out


def replay_market(tables: dict[str, pl.DataFrame], day: date, config: SimConfig | None = None,
                  with_dark: bool | None = None) -> tuple[MarketState, SimConfig]:
    """MarketState and SimConfig for real tick ``tables`` (quotes, trades, optional depth) of ``day``.

    ``market.depth`` is the real book for venues that have one and a level-1 book from the quotes for
    the others (rows marked ``_from_quotes``); ``market.nbbo`` is ``build_nbbo`` of the real quotes;
    ``market.truth`` the replay's venue parameters."""
    from sor_pipeline.ingest.nbbo import build_nbbo

    ticks = _canonical_ticks(tables)
    quotes, depth = ticks["quotes"], ticks["depth"]
    if quotes.height == 0:
        raise ValueError(f"replay on {day}: no quotes")
    cfg = config or replay_config(quotes, depth, with_dark=with_dark)
    booked = set(depth.get_column("venue").unique().to_list())
    derived = level1_depth(quotes.filter(~pl.col("venue").is_in(list(booked))))
    sim_depth = pl.concat([depth, derived], how="diagonal").sort("ts", maintain_order=True)
    market = MarketState(date=day, quotes=quotes, depth=sim_depth, trades=ticks["trades"],
                         venues=venues_frame(cfg.venues), nbbo=build_nbbo(quotes),
                         truth=day_params(replace(cfg, regimes=[]), 0))
    return market, cfg


def market_from_drop(day_dir: Path, day: date, with_dark: bool | None = None) -> MarketState:
    """Read a folder of LOBSTER or TAQ files (``read_drop``) into a replay MarketState for ``day``."""
    from sor_pipeline.ingest.drop import read_drop

    result = read_drop(Path(day_dir), day)
    market, _ = replay_market(result.tables, day, with_dark=with_dark)
    return market


def replay_day(real_market_tables: MarketState | dict[str, pl.DataFrame], day: date,
               config: SimConfig | None = None, policy: RoutingPolicy | None = None, seed: int = 7,
               parent_orders: int = 200) -> SimDay:
    """Simulate parent orders, routing and fills for ``day`` on real tick data.

    ``real_market_tables``: a MarketState (e.g. from :func:`market_from_drop`) or canonical tick tables.
    ``config`` defaults to :func:`replay_config` (``seed``, ``parent_orders`` per symbol); ``policy``
    to the static waterfall over its venues. Returns a SimDay whose ``tables`` hold the canonical
    execution tables, the venues and the real ticks (``depth`` = the real book only), and ``oracle``
    the SimOracle rows."""
    if isinstance(real_market_tables, MarketState):
        m = real_market_tables
        real_depth = (m.depth.filter(pl.col(FROM_QUOTES).is_null()).drop(FROM_QUOTES)
                      if FROM_QUOTES in m.depth.columns else m.depth)
        tables = {"quotes": m.quotes, "trades": m.trades, "depth": real_depth}
        with_dark = m.venues.filter(pl.col("venue_type") == "DARK").height > 0
        cfg = config or replay_config(m.quotes, real_depth, seed=seed, parent_orders_per_symbol=parent_orders,
                                      with_dark=with_dark)
        market = MarketState(date=day, quotes=m.quotes, depth=m.depth, trades=m.trades,
                             venues=venues_frame(cfg.venues), nbbo=m.nbbo, history=m.history,
                             truth=day_params(replace(cfg, regimes=[]), 0))
    else:
        tables = dict(real_market_tables)
        ticks = _canonical_ticks(tables)
        cfg = config or replay_config(ticks["quotes"], ticks["depth"], seed=seed,
                                      parent_orders_per_symbol=parent_orders)
        market, cfg = replay_market(tables, day, cfg)
    simday = simulate_day(cfg, day, 0, policy, market=market)
    real = _canonical_ticks(tables)
    simday.tables.update({"quotes": real["quotes"], "trades": real["trades"], "depth": real["depth"]})
    return simday


def fill_markouts(fills: pl.DataFrame, child_orders: pl.DataFrame, nbbo: pl.DataFrame,
                  horizons_s: tuple[int, ...] = MARKOUT_HORIZONS_S) -> pl.DataFrame:
    """Per fill: ``markout_<h>s_bps`` = s (mid(ts + h) - px) / px 1e4, with mid the NBBO mid (unflagged
    rows) at or before ts + h; + = the price moved our way, - = adverse selection; null when no mid."""
    nb = nbbo.filter(pl.col("flag").is_null()).select("ts", "symbol", "mid_px").sort("ts")
    f = fills.join(child_orders.select("child_id", "symbol", "side"), on="child_id", how="left")
    s = pl.when(pl.col("side") == "BUY").then(1.0).otherwise(-1.0)
    out = f.select("exec_id", "child_id", "symbol", "side", "ts", "px")
    for h in horizons_s:
        at = (f.select("exec_id", "symbol", pl.col("ts").dt.offset_by(f"{h}s").alias("ts")).sort("ts")
              .join_asof(nb, on="ts", by="symbol", strategy="backward", check_sortedness=False)
              .select("exec_id", pl.col("mid_px").alias(f"mid_{h}s")))
        out = out.join(at, on="exec_id", how="left", maintain_order="left").with_columns(
            (s * (pl.col(f"mid_{h}s") - pl.col("px")) / pl.col("px") * 1e4).alias(f"markout_{h}s_bps"))
    return out
