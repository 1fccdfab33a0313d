"""NBBO across venues on hand-built quotes: best prices, summed sizes, locked/crossed, flagged quotes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import Nbbo, columns_of
from schemas._types import TS_NS_UTC
from sor_pipeline.ingest import build_nbbo

T = 1_709_650_800_000_000_000


def q(rows: list[tuple[int, str, str, float, int, float, int, str | None]]) -> pl.DataFrame:
    f = pl.DataFrame(rows, schema={"ts": pl.Int64, "symbol": pl.Utf8, "venue": pl.Utf8, "bid_px": pl.Float64,
                                   "bid_sz": pl.Int64, "ask_px": pl.Float64, "ask_sz": pl.Int64, "flag": pl.Utf8},
                     orient="row")
    return f.with_columns((pl.col("ts") + T).cast(pl.Datetime("ns", "UTC")))


def test_best_prices_summed_sizes_and_flags() -> None:
    quotes = q([
        (1, "AAA", "A", 10.00, 100, 10.05, 300, None),
        (2, "AAA", "B", 10.00, 200, 10.04, 100, None),   # same bid: sizes add; better ask
        (3, "BBB", "A", 50.00, 100, 50.10, 100, None),   # other symbol: no leakage
        (4, "AAA", "C", 10.01, 500, 10.04, 50, None),    # new best bid; ask tie adds
        (5, "AAA", "C", 0.0, 0, 0.0, 0, "ZERO"),          # C withdrawn
        (6, "AAA", "B", 10.05, 100, 10.06, 100, None),   # B bid = A ask -> LOCKED
        (7, "AAA", "B", 10.07, 100, 10.08, 100, None),   # B bid > A ask -> CROSSED
        (7, "AAA", "A", 10.06, 100, 10.09, 100, None),   # same ts: only the state after both counts
    ])
    out = build_nbbo(quotes)
    Nbbo.validate(out)
    aaa = out.filter(pl.col("symbol") == "AAA").with_columns((pl.col("ts").cast(pl.Int64) - T).alias("t"))
    rows = {r["t"]: r for r in aaa.iter_rows(named=True)}
    assert (rows[1]["bid_px"], rows[1]["bid_sz"], rows[1]["ask_px"], rows[1]["ask_sz"]) == (10.0, 100, 10.05, 300)
    assert (rows[2]["bid_sz"], rows[2]["ask_px"], rows[2]["ask_sz"]) == (300, 10.04, 100)
    assert (rows[4]["bid_px"], rows[4]["bid_sz"], rows[4]["ask_px"], rows[4]["ask_sz"]) == (10.01, 500, 10.04, 150)
    assert (rows[5]["bid_px"], rows[5]["bid_sz"], rows[5]["ask_px"], rows[5]["ask_sz"]) == (10.0, 300, 10.04, 100)
    assert rows[5]["mid_px"] == (10.0 + 10.04) / 2 and rows[5]["flag"] is None
    assert (rows[6]["bid_px"], rows[6]["ask_px"], rows[6]["flag"]) == (10.05, 10.05, "LOCKED")
    assert (rows[7]["bid_px"], rows[7]["ask_px"], rows[7]["flag"]) == (10.07, 10.08, None)
    assert aaa.height == 6  # one row per (symbol, ts)
    bbb = out.filter(pl.col("symbol") == "BBB")
    assert bbb.select("bid_px", "bid_sz", "ask_px", "ask_sz").row(0) == (50.0, 100, 50.1, 100)


def test_crossed_and_one_sided_and_unchanged() -> None:
    quotes = q([
        (1, "AAA", "A", 10.00, 100, 0.0, 0, "ZERO"),      # one-sided market: no NBBO row
        (2, "AAA", "B", 9.90, 100, 9.95, 100, None),      # A's bid 10.00 was withdrawn by its flag
        (3, "AAA", "A", 10.00, 100, 10.10, 100, None),    # A bid > B ask -> CROSSED
        (4, "AAA", "A", 10.00, 100, 10.10, 100, None),    # repeat: no new row
    ])
    out = build_nbbo(quotes)
    Nbbo.validate(out)
    assert out.height == 2
    assert out.get_column("flag").to_list() == [None, "CROSSED"]
    assert out.row(0, named=True)["bid_px"] == 9.90


def test_empty_quotes() -> None:
    out = build_nbbo(q([]))
    assert out.height == 0 and out.columns == list(Nbbo.to_schema().columns)


# -------------------------------------------------------------------------------------------------
# old (reference) vs new implementation on random frames
_REF_NO_BID = -1.0
_REF_NO_ASK = float("inf")


def build_nbbo_reference(quotes: pl.DataFrame) -> pl.DataFrame:
    """The original polars implementation (forward fills per venue over the whole column), kept as the
    reference that :func:`build_nbbo` must match row for row."""
    cols = list(columns_of(Nbbo))
    if quotes.height == 0:
        return pl.DataFrame(schema=columns_of(Nbbo))
    q = (
        quotes.select(
            pl.col("ts").cast(TS_NS_UTC).cast(pl.Int64).alias("ts"), "symbol", "venue",
            "bid_px", "bid_sz", "ask_px", "ask_sz",
            (pl.col("flag").is_null() if "flag" in quotes.columns else pl.lit(True)).alias("ok"),
        )
        .with_columns(pl.col("symbol").cast(pl.Utf8).rank("dense").cast(pl.Int64).alias("sid"))
        .sort("sid", "ts", maintain_order=True)
    )
    sid, venue, ok = q.get_column("sid"), q.get_column("venue"), q.get_column("ok")
    # an update by venue v: its prices if usable, else "withdrawn" sentinels; null = no update by v
    bid_in = pl.when(ok & (pl.col("bid_px") > 0)).then(pl.col("bid_px")).otherwise(_REF_NO_BID)
    ask_in = pl.when(ok & (pl.col("ask_px") > 0)).then(pl.col("ask_px")).otherwise(_REF_NO_ASK)
    bsz_in = pl.when(ok).then(pl.col("bid_sz")).otherwise(0)
    asz_in = pl.when(ok).then(pl.col("ask_sz")).otherwise(0)
    n = q.height
    best_bid = pl.Series("bid_px", [_REF_NO_BID] * n, dtype=pl.Float64)
    best_ask = pl.Series("ask_px", [_REF_NO_ASK] * n, dtype=pl.Float64)
    bid_sz = pl.Series("bid_sz", [0] * n, dtype=pl.Int64)
    ask_sz = pl.Series("ask_sz", [0] * n, dtype=pl.Int64)
    for v in venue.unique().sort().to_list():
        mine = venue == v
        cur = q.select(
            pl.when(mine).then(pl.col("sid")).forward_fill().alias("s"),
            pl.when(mine).then(bid_in).forward_fill().alias("b"),
            pl.when(mine).then(bsz_in).forward_fill().alias("bs"),
            pl.when(mine).then(ask_in).forward_fill().alias("a"),
            pl.when(mine).then(asz_in).forward_fill().alias("as"),
        )
        live = cur.get_column("s").eq_missing(sid)  # the carried quote belongs to this symbol
        frame = pl.DataFrame({"bb": best_bid, "bsz": bid_sz, "ba": best_ask, "asz": ask_sz}).with_columns(
            pl.when(live).then(cur.get_column("b")).otherwise(_REF_NO_BID).alias("b"),
            pl.when(live).then(cur.get_column("a")).otherwise(_REF_NO_ASK).alias("a"),
            pl.when(live).then(cur.get_column("bs")).otherwise(0).fill_null(0).alias("bs"),
            pl.when(live).then(cur.get_column("as")).otherwise(0).fill_null(0).alias("as"),
        )
        upd = frame.select(
            pl.max_horizontal("bb", "b").alias("bb"),
            pl.when(pl.col("b") > pl.col("bb")).then(pl.col("bs"))
            .when((pl.col("b") == pl.col("bb")) & (pl.col("b") > 0)).then(pl.col("bsz") + pl.col("bs"))
            .otherwise(pl.col("bsz")).alias("bsz"),
            pl.min_horizontal("ba", "a").alias("ba"),
            pl.when(pl.col("a") < pl.col("ba")).then(pl.col("as"))
            .when((pl.col("a") == pl.col("ba")) & pl.col("a").is_finite()).then(pl.col("asz") + pl.col("as"))
            .otherwise(pl.col("asz")).alias("asz"),
        )
        best_bid, bid_sz = upd.get_column("bb"), upd.get_column("bsz")
        best_ask, ask_sz = upd.get_column("ba"), upd.get_column("asz")

    out = pl.DataFrame({"ts": q.get_column("ts"), "sid": sid, "symbol": q.get_column("symbol"),
                        "bid_px": best_bid, "bid_sz": bid_sz, "ask_px": best_ask, "ask_sz": ask_sz})
    last_of_ts = (pl.col("ts") != pl.col("ts").shift(-1)) | (pl.col("sid") != pl.col("sid").shift(-1))
    out = out.filter(last_of_ts.fill_null(True) & (pl.col("bid_px") > 0) & pl.col("ask_px").is_finite())
    same = pl.all_horizontal([pl.col(c) == pl.col(c).shift(1) for c in ("sid", "bid_px", "bid_sz", "ask_px", "ask_sz")])
    out = out.filter(~same.fill_null(False))
    return out.select(
        pl.col("ts").cast(TS_NS_UTC), "symbol", "bid_px", "bid_sz", "ask_px", "ask_sz",
        ((pl.col("bid_px") + pl.col("ask_px")) / 2).alias("mid_px"),
        pl.when(pl.col("bid_px") == pl.col("ask_px")).then(pl.lit("LOCKED"))
        .when(pl.col("bid_px") > pl.col("ask_px")).then(pl.lit("CROSSED")).otherwise(None).alias("flag"),
    ).select(cols)


def random_quotes(n: int, n_symbols: int, seed: int) -> pl.DataFrame:
    """Random quotes with ts ties, shared prices (size sums), flags, zero prices and 4-13 venues/symbol."""
    rng = np.random.default_rng(seed)
    pool = np.array([f"V{i:02d}" for i in range(13)])
    per_sym = [rng.choice(pool, rng.integers(4, 14), replace=False) for _ in range(n_symbols)]
    si = rng.integers(0, n_symbols, n)
    venue = np.array([per_sym[s][rng.integers(0, len(per_sym[s]))] for s in si])
    bid = 100.0 + rng.integers(-3, 4, n) * 0.01
    ask = bid + rng.integers(-1, 4, n) * 0.01  # some locked / crossed venue quotes
    flag = rng.choice(np.array(["", "ZERO", "CROSSED"]), n, p=[0.9, 0.05, 0.05])
    zero_bid = rng.random(n) < 0.03
    return pl.DataFrame({
        "ts": T + rng.integers(0, n // 3 + 1, n) * 1_000, "symbol": np.array([f"S{s:03d}" for s in si]),
        "venue": venue, "bid_px": np.where(zero_bid, 0.0, np.round(bid, 2)),
        "bid_sz": rng.integers(1, 5, n) * 100, "ask_px": np.round(ask, 2), "ask_sz": rng.integers(1, 5, n) * 100,
        "flag": flag,
    }).with_columns(pl.col("ts").cast(TS_NS_UTC), pl.when(pl.col("flag") == "").then(None)
                    .otherwise(pl.col("flag")).alias("flag"))


@pytest.mark.parametrize(("n", "n_symbols", "seed"), [(50, 1, 0), (2_000, 3, 1), (20_000, 40, 2), (60_000, 7, 3)])
def test_matches_reference_on_random_quotes(n: int, n_symbols: int, seed: int) -> None:
    quotes = random_quotes(n, n_symbols, seed)
    want = build_nbbo_reference(quotes)
    got = build_nbbo(quotes)
    assert want.height > 0
    assert_frame_equal(got, want, check_exact=True)  # same rows, same order, same dtypes
    Nbbo.validate(got)


@pytest.mark.parametrize("chunk_rows", [1, 97, 5_000])
def test_chunking_does_not_change_output(chunk_rows: int) -> None:
    quotes = random_quotes(20_000, 25, 4)
    assert_frame_equal(build_nbbo(quotes, chunk_rows=chunk_rows, workers=3), build_nbbo(quotes, workers=1),
                      check_exact=True)


def test_unsorted_input_categorical_symbol_and_long_span() -> None:
    """Input order only breaks ts ties; categorical symbols and a 20-year span (two-key sort) work."""
    quotes = random_quotes(5_000, 5, 5)
    spread = quotes.with_columns(pl.col("ts") + pl.duration(days=7_300, time_unit="ns") * (pl.int_range(pl.len()) % 2))
    assert_frame_equal(build_nbbo(spread), build_nbbo_reference(spread), check_exact=True)
    shuffled = quotes.with_row_index("i").sample(fraction=1.0, shuffle=True, seed=1).sort("ts", maintain_order=True)
    assert_frame_equal(build_nbbo(shuffled.drop("i")), build_nbbo_reference(shuffled.drop("i")), check_exact=True)
    cat = quotes.with_columns(pl.col("symbol").cast(pl.Categorical), pl.col("venue").cast(pl.Categorical))
    assert_frame_equal(build_nbbo(cat), build_nbbo(quotes), check_exact=True)
    assert build_nbbo(quotes.drop("flag")).height > 0
    assert build_nbbo(quotes.head(0)).schema == pl.Schema(columns_of(Nbbo))
