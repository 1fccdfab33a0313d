"""NBBO across venues on hand-built quotes: best prices, summed sizes, locked/crossed, flagged quotes."""

from __future__ import annotations

import polars as pl

from schemas import Nbbo
from sor_pipeline.adapters import build_nbbo

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
