"""Simulator replay on real tick data (SOR_REAL_DATA=../shared/data/real): LOBSTER book and TAQ quotes.

Drops are tmp folders of symlinks to the real files (never copies in the repo).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from schemas import ChildOrders, Depth, Fills, ParentOrders, Quotes, SimOracle, Trades, Venues
from sor_pipeline.ingest import read_lobster
from sor_pipeline.simulation import OraclePolicy, SimDay
from sor_pipeline.simulation.policy import MarketState
from sor_pipeline.simulation.replay import fill_markouts, market_from_drop, replay_day

pytestmark = pytest.mark.realdata

LOBSTER_DAY = date(2012, 6, 21)
TAQ_DAY = date(2018, 1, 3)
PARENTS = 150


def _symlink_drop(root: Path, sources: list[Path]) -> Path:
    drop = root / "drop"
    drop.mkdir()
    for src in sources:
        if not src.is_file():
            pytest.skip(f"{src} missing")
        (drop / src.name).symlink_to(src)
    return drop


def _lobster_message(real: Path) -> Path:
    files = sorted((real / "lobster" / "AMZN_2012-06-21_5").glob("*_message_5.csv"))
    if not files:
        pytest.skip("AMZN 5-level LOBSTER files missing")
    return files[0]


_CACHE: dict[str, tuple[MarketState, SimDay]] = {}


@pytest.fixture()
def lobster(real_data: Path, tmp_path: Path) -> tuple[MarketState, SimDay]:
    """AMZN 5-level LOBSTER day replayed (cached for the module: one replay, several tests)."""
    if "lobster" not in _CACHE:
        msg = _lobster_message(real_data)
        drop = _symlink_drop(tmp_path, [msg, Path(str(msg).replace("_message_", "_orderbook_"))])
        market = market_from_drop(drop, LOBSTER_DAY)
        _CACHE["lobster"] = market, replay_day(market, LOBSTER_DAY, seed=11, parent_orders=PARENTS)
    return _CACHE["lobster"]


@pytest.fixture()
def taq(real_data: Path, tmp_path: Path) -> tuple[MarketState, SimDay]:
    """TAQ sample day 2018-01-03 replayed over its exchanges with the oracle policy."""
    if "taq" not in _CACHE:
        drop = _symlink_drop(tmp_path, [real_data / "taq" / "sampleQDataRaw.csv",
                                        real_data / "taq" / "sampleTDataRaw.csv"])
        market = market_from_drop(drop, TAQ_DAY)
        _CACHE["taq"] = market, replay_day(market, TAQ_DAY, seed=11, policy=OraclePolicy(), parent_orders=PARENTS)
    return _CACHE["taq"]


def _sign() -> pl.Expr:
    """s = +1 BUY, -1 SELL."""
    return pl.when(pl.col("side") == "BUY").then(1.0).otherwise(-1.0)


def _validate(simday: SimDay) -> None:
    t = simday.tables
    for model, name in ((ParentOrders, "parent_orders"), (ChildOrders, "child_orders"), (Fills, "fills"),
                        (Venues, "venues"), (Quotes, "quotes"), (Depth, "depth"), (Trades, "trades")):
        model.validate(t[name], lazy=True)
    SimOracle.validate(simday.oracle, lazy=True)
    assert t["parent_orders"].height == PARENTS
    assert t["child_orders"].height >= PARENTS and t["fills"].height > 0
    n_venues = t["venues"].height
    assert simday.oracle.height == t["child_orders"].height * n_venues  # every venue priced per child
    assert set(t["child_orders"].get_column("child_id")) == set(simday.oracle.get_column("child_id"))


def _lit_fills_with_book(simday: SimDay, depth: pl.DataFrame) -> pl.DataFrame:
    """Lit fills on book levels 1..5 (exec suffix -F0..-F4) with the venue's book as of the child's sent_ts."""
    kids = simday.tables["child_orders"].select("child_id", "symbol", "side", "venue", "sent_ts")
    lit = simday.tables["venues"].filter(pl.col("venue_type") == "LIT").get_column("venue")
    f = (simday.tables["fills"].join(kids, on="child_id").filter(pl.col("venue").is_in(lit.implode()))
         .with_columns(pl.col("exec_id").str.extract(r"-F(\d+)$").cast(pl.Int64).alias("j")))
    book = depth.sort("ts")
    return (f.filter(pl.col("j") < 5).rename({"ts": "fill_ts"}).with_columns(pl.col("sent_ts").alias("ts")).sort("ts")
            .join_asof(book, on="ts", by=["symbol", "venue"], strategy="backward", check_sortedness=False))


def test_lobster_replay_tables_valid(lobster: tuple[MarketState, SimDay]) -> None:
    _, simday = lobster
    _validate(simday)
    assert set(simday.tables["venues"].get_column("venue")) == {"DRK1", "DRK2", "XNAS"}
    assert simday.tables["depth"].height > 100_000  # the real 5-level book, not a simulated one
    routed = set(simday.tables["child_orders"].get_column("venue"))
    assert {"XNAS", "DRK1", "DRK2"} <= routed


def test_lobster_lit_fills_walk_the_real_book(lobster: tuple[MarketState, SimDay]) -> None:
    market, simday = lobster
    j = _lit_fills_with_book(simday, market.depth)
    assert j.height > 50
    far = pl.col("side") == "BUY"
    px_cols = [pl.when(far).then(pl.col(f"ask_px_{k}")).otherwise(pl.col(f"bid_px_{k}")) for k in range(1, 6)]
    sz_cols = [pl.when(far).then(pl.col(f"ask_sz_{k}")).otherwise(pl.col(f"bid_sz_{k}")) for k in range(1, 6)]
    chk = j.with_columns(pl.concat_list(px_cols).list.get(pl.col("j")).alias("level_px"),
                         pl.concat_list(sz_cols).list.get(pl.col("j")).alias("level_sz"))
    assert chk.filter(pl.col("level_px").is_null()).height == 0
    assert (chk.get_column("px") == chk.get_column("level_px")).all()  # priced exactly at a real level
    assert (chk.get_column("qty") <= chk.get_column("level_sz")).all()
    # more levels than one are walked for some orders
    assert chk.get_column("j").max() >= 1


def test_lobster_dark_fills_at_real_mid(lobster: tuple[MarketState, SimDay], real_data: Path) -> None:
    """Dark fill px = real mid at fill time x (1 + s adverse / 1e4); adverse = oracle slippage - fee
    (+ N(0, 0.5) bps noise)."""
    _, simday = lobster
    raw = read_lobster(_lobster_message(real_data)).tables["quotes"]
    mid = raw.filter(pl.col("flag").is_null()).select(
        "ts", "symbol", ((pl.col("bid_px") + pl.col("ask_px")) / 2).alias("real_mid")).sort("ts")
    kids = simday.tables["child_orders"].select("child_id", "side", "venue", "symbol")
    dark = (simday.tables["fills"].filter(pl.col("liquidity") == "MID").join(kids, on="child_id")
            .join(simday.oracle.select("child_id", "venue", "slippage_bps"), on=["child_id", "venue"])
            .sort("ts").join_asof(mid, on="ts", by="symbol", strategy="backward", check_sortedness=False))
    assert dark.height > 20 and dark.get_column("real_mid").null_count() == 0
    resid = dark.select(
        (_sign() * (pl.col("px") / pl.col("real_mid") - 1) * 1e4 - (pl.col("slippage_bps") - pl.col("fee_bps")))
        .alias("r")).get_column("r")
    assert resid.abs().max() < 3.0  # 6 sigma of the 0.5 bps noise
    assert abs(resid.mean()) < 0.3


def test_lobster_markouts_off_real_mid_path(lobster: tuple[MarketState, SimDay], real_data: Path) -> None:
    market, simday = lobster
    assert market.nbbo is not None
    mk = fill_markouts(simday.tables["fills"], simday.tables["child_orders"], market.nbbo)
    raw = read_lobster(_lobster_message(real_data)).tables["quotes"]
    mid = raw.filter(pl.col("flag").is_null()).select(
        "ts", "symbol", ((pl.col("bid_px") + pl.col("ask_px")) / 2).alias("real_mid")).sort("ts")
    for h in (1, 60):
        at = (mk.select("exec_id", "symbol", "side", "px", f"markout_{h}s_bps",
                        pl.col("ts").dt.offset_by(f"{h}s").alias("ts")).sort("ts")
              .join_asof(mid, on="ts", by="symbol", strategy="backward", check_sortedness=False))
        want = at.select(_sign() * (pl.col("real_mid") - pl.col("px")) / pl.col("px") * 1e4).to_series()
        got = at.get_column(f"markout_{h}s_bps")
        assert got.null_count() == 0
        assert ((got - want).abs() < 1e-9).all()
    assert mk.get_column("markout_60s_bps").std() > 0.1  # a real, moving price path


def test_taq_replay_many_lit_venues(taq: tuple[MarketState, SimDay]) -> None:
    market, simday = taq
    _validate(simday)
    venues = simday.tables["venues"]
    assert venues.height >= 10 and set(venues.get_column("venue_type")) == {"LIT"}
    assert simday.oracle.get_column("venue").n_unique() >= 10
    assert simday.tables["child_orders"].get_column("venue").n_unique() >= 3  # the oracle spreads the flow
    assert simday.tables["depth"].height == 0  # TAQ has no book: level 1 is derived from quotes
    # lit fills at level 1 are the venue's real quote at send time
    j = _lit_fills_with_book(simday, market.depth.drop("_from_quotes"))
    top = j.filter(pl.col("j") == 0).with_columns(
        pl.when(pl.col("side") == "BUY").then(pl.col("ask_px_1")).otherwise(pl.col("bid_px_1")).alias("quote_px"))
    assert top.height > 20
    assert (top.get_column("px") == top.get_column("quote_px")).all()
