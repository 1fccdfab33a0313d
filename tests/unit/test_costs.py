from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from sor_pipeline.learning.costs import (
    book_walk,
    expected_cost_bps,
    impact_coefficients,
    lit_fallback_bps,
    with_fallback,
)


def test_expected_cost_formula() -> None:
    assert expected_cost_bps(1.0, 2.0, 10.0) == 2.0
    assert expected_cost_bps(0.0, 2.0, 10.0) == 10.0
    np.testing.assert_allclose(expected_cost_bps(np.array([0.5, 2.0]), 2.0, 10.0), [6.0, 2.0])


def test_fallback_is_cheapest_lit_per_request() -> None:
    s = pl.DataFrame({
        "request_id": [1, 1, 1, 2, 2],
        "venue": ["D", "L1", "L2", "D", "E"],
        "venue_type": ["DARK", "LIT", "LIT", "DARK", "ECN"],
        "p_fill": [0.2, 1.0, 1.0, 0.5, 0.5],
        "slippage_bps": [-1.0, 5.0, 4.0, 0.0, 2.0],
    })
    out = with_fallback(s)
    assert out.get_column("fallback_bps").to_list() == [4.0, 4.0, 4.0, 0.0, 0.0]
    assert out.get_column("expected_cost_bps").to_list()[0] == 0.2 * -1.0 + 0.8 * 4.0


def _book(venue: str, ask: list[tuple[float, int]], bid: list[tuple[float, int]]) -> dict:
    row: dict = {"ts": pl.Series([0]).cast(pl.Datetime("ns", "UTC"))[0], "symbol": "S", "venue": venue}
    for k in range(5):
        row[f"ask_px_{k + 1}"], row[f"ask_sz_{k + 1}"] = ask[k] if k < len(ask) else (None, None)
        row[f"bid_px_{k + 1}"], row[f"bid_sz_{k + 1}"] = bid[k] if k < len(bid) else (None, None)
    return row


def _orders(qty: list[int], side: str = "BUY") -> pl.DataFrame:
    n = len(qty)
    return pl.DataFrame({"child_id": [f"c{i}" for i in range(n)], "symbol": ["S"] * n, "side": [side] * n,
                         "qty": qty, "sent_ts": pl.Series([1] * n).cast(pl.Datetime("ns", "UTC")),
                         "arrival_mid": [100.0] * n})


def test_book_walk_prices_the_far_side_against_the_mid_with_the_taker_fee() -> None:
    """Buy 300 on a book asking 100 at 100.01 and 400 at 100.02 (mid 100): vwap 100.01 -> +1 bps, plus a
    0.3 bps fee; 600 walks into the second level; 900 leaves 200 beyond the book at its last price."""
    depth = pl.DataFrame([_book("L", [(100.01, 300), (100.02, 400)], [(99.99, 200), (99.98, 300)])])
    w = book_walk(_orders([300, 600, 900]), depth, {"L": 0.3}).sort("child_id")
    assert w["walk_bps"].to_list() == pytest.approx([1.3, (300 * 1 + 300 * 2) / 600 + 0.3,
                                                     (300 * 1 + 400 * 2 + 200 * 2) / 900 + 0.3])
    assert w["rest_qty"].to_list() == [0.0, 0.0, 200.0]
    sell = book_walk(_orders([300], "SELL"), depth, {"L": 0.3})
    assert sell["walk_bps"].to_list() == pytest.approx([(200 * 1 + 100 * 2) / 300 + 0.3])  # + = cost on a sell too


def test_fallback_adds_the_square_root_impact_the_days_sweeps_show() -> None:
    # the day's lit sweeps: 400 beyond the book cost 0.5 * (400/1000) * sqrt(400) = 4 bps over the walk
    own = pl.DataFrame({"symbol": ["S", "S"], "realized_bps": [7.0, 2.0], "walk_bps": [3.0, 2.0],
                        "rest_qty": [400.0, 0.0], "qty": [1000.0, 300.0]})
    coef = impact_coefficients(own)
    assert coef["impact_c"].to_list() == pytest.approx([0.5])
    walks = pl.DataFrame({"child_id": ["a", "a", "b"], "venue": ["L1", "L2", "L1"], "walk_bps": [2.0, 2.5, 1.0],
                          "rest_qty": [100.0, 0.0, 0.0], "qty": [100.0, 100.0, 50.0], "symbol": ["S", "S", "S"]})
    fb = lit_fallback_bps(walks, coef).sort("child_id")
    # a: L1 = 2 + 0.5 * 1 * 10 = 7, L2 = 2.5 (holds it all): the cheaper lit venue
    assert fb["fallback_bps"].to_list() == pytest.approx([2.5, 1.0])
