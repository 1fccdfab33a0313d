"""Report tables: a frame plus how to print it, and small statistics helpers shared by the sections."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

#: characters of 8 pt table text across a portrait A4 page (186 mm of text width, ~4.8 pt a character)
PORTRAIT_CHARS = 105
LONG_ROWS = 12


@dataclass
class Table:
    """A printed table: ``frame`` holds the figures (kept for the JSON summary and tests), ``formats``
    maps a column to a format spec (``"{:,.0f}"``, ``"{:.2f}"``) and ``labels`` to its printed header."""

    key: str
    caption: str
    frame: pl.DataFrame
    formats: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    notes: Sequence[str] = ()

    @property
    def headers(self) -> list[str]:
        return [self.labels.get(c, c) for c in self.frame.columns]

    @property
    def rows(self) -> list[list[str]]:
        out = []
        for row in self.frame.iter_rows():
            out.append([fmt_value(v, self.formats.get(c)) for c, v in zip(self.frame.columns, row, strict=True)])
        return out

    @property
    def width_chars(self) -> int:
        """Estimated printed width in characters: per column its widest cell or the longest word of its
        header (headers wrap), plus 2 for padding and rules."""
        rows = self.rows
        total = 0
        for i, h in enumerate(self.headers):
            cells = max((len(r[i]) for r in rows), default=0)
            total += max(cells, max((len(w) for w in h.split()), default=0)) + 2
        return total

    @property
    def wide(self) -> bool:
        """Wider than a portrait A4 page holds at 8 pt: printed on a landscape page."""
        return self.width_chars > PORTRAIT_CHARS

    @property
    def long(self) -> bool:
        """Too many rows to keep on one page: may break (its header repeats on the next page)."""
        return self.frame.height > LONG_ROWS

    @property
    def numeric(self) -> list[bool]:
        return [dt.is_numeric() for dt in self.frame.dtypes]


def fmt_value(value: Any, spec: str | None) -> str:
    """Printed cell: '' for null/NaN, ``spec`` for numbers, ISO for dates, str otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if spec is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return spec.format(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def describe(values: pl.Series | Sequence[float] | np.ndarray) -> dict[str, float | int | None]:
    """n, mean, median, sd, p5, p25, p75, p95 and the 95% CI of the mean (Student t, n - 1 df; null below
    n = 2) of the non-null values. Units are those of ``values``."""
    arr = np.asarray(pl.Series(values, dtype=pl.Float64).drop_nulls().drop_nans().to_numpy(), dtype=np.float64)
    n = int(arr.size)
    if n == 0:
        return {"n": 0, "mean": None, "median": None, "sd": None, "p5": None, "p25": None, "p75": None,
                "p95": None, "ci_low": None, "ci_high": None}
    mean = float(arr.mean())
    sd = float(arr.std(ddof=1)) if n >= 2 else None
    half = float(sps.t.ppf(0.975, n - 1)) * sd / math.sqrt(n) if sd is not None else None
    q = np.quantile(arr, [0.05, 0.25, 0.75, 0.95])
    return {"n": n, "mean": mean, "median": float(np.median(arr)), "sd": sd,
            "p5": float(q[0]), "p25": float(q[1]), "p75": float(q[2]), "p95": float(q[3]),
            "ci_low": None if half is None else mean - half, "ci_high": None if half is None else mean + half}


def safe_div(num: float | None, den: float | None) -> float | None:
    """num / den, or None when either is missing or den is 0."""
    if num is None or den is None or den == 0:
        return None
    return float(num) / float(den)


def wavg(values: pl.Expr, weights: pl.Expr) -> pl.Expr:
    """Weighted mean of the non-null ``values`` (null when no weight)."""
    w = pl.when(values.is_not_null()).then(weights).otherwise(None)
    return pl.when(w.sum() > 0).then((values * w).sum() / w.sum()).otherwise(None)


BPS = "{:,.2f}"
INT = "{:,.0f}"
PCT = "{:.1%}"
USD = "{:,.2f}"
PX4 = "{:.4f}"
SEC = "{:,.2f}"
