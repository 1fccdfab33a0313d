from __future__ import annotations

import numpy as np
import polars as pl

from sor_pipeline.learning.costs import expected_cost_bps, with_fallback


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
