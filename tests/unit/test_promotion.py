"""Promotion helpers on plain values: model-version tags hold JSON that always parses back."""

from __future__ import annotations

import json

from sor_pipeline.promotion.retrain import fit_json


def test_fit_json_keeps_valid_json_within_the_limit() -> None:
    per_day = [{"date": f"2024-03-{d:02d}", "static": 5.0 + d, "challenger": 4.0 + d} for d in range(1, 30)]
    text = fit_json(per_day, 300)
    kept = json.loads(text)
    assert len(text) <= 300 and kept == per_day[-len(kept):] and 0 < len(kept) < len(per_day)  # newest kept
    sandbox = {"passed": True, "cost_diff_bps": -0.4, "per_request": list(range(2000))}
    small = json.loads(fit_json(sandbox, 200))
    assert small == {"passed": True, "cost_diff_bps": -0.4, "truncated": True}
    assert fit_json({"a": 1}, 100) == '{"a": 1}'


def test_symbol_slices_equal_partition_by_without_copying() -> None:
    import polars as pl

    from sor_pipeline.promotion.sandbox import symbol_slices

    frame = pl.DataFrame({"symbol": ["B", "A", "B", "C", "A", "B"], "ts": [5, 1, 3, 2, 1, 4], "x": range(6)})
    grouped = frame.sort("symbol", maintain_order=True)
    got = symbol_slices(grouped)
    want = frame.partition_by("symbol", as_dict=True)
    assert got.keys() == want.keys() and all(got[k].equals(want[k]) for k in want)
    assert got[("B",)]["x"].to_list() == [0, 2, 5]  # each symbol's rows in their original order
