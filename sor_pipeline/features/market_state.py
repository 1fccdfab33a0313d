"""Point-in-time market state: the NBBO and consolidated-book as-of indexes, and small expressions.

``mid(t)`` is the NBBO mid of the last NBBO row at or before ``t`` (never after), per docs/DESIGN.md;
every lookup goes through :class:`~sor_pipeline.features.asof.AsofIndex` (backward as-of; the later
row wins ties). Timestamps are UTC ``Datetime("ns", "UTC")``; offsets use ``time_unit="ns"`` (a bare
``pl.duration`` silently becomes microseconds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from schemas._types import TS_NS_UTC
from schemas.market import DEPTH_LEVELS
from sor_pipeline.config.calendar import (
    DEFAULT_CALENDAR,
    SESSION_LEN_S,
    SESSION_OPEN_S,
    early_close_lengths_s,
)
from sor_pipeline.features.asof import NS_PER_S, AsofIndex, Derived, Hits, for_groups, sort_probes

#: Value columns of the NBBO state (:func:`nbbo_state`): prices and ``cum_r2``.
NBBO_STATE_COLUMNS = ["bid_px", "ask_px", "mid_px", "cum_r2"]
#: Consolidated lit-book columns produced by :func:`depth_state` (shares, summed across venues).
DEPTH_STATE_COLUMNS = ["bid_sz_5", "ask_sz_5", "bid_sz_3", "ask_sz_3"]
_CODE = "_code"

__all__ = ["DEPTH_STATE_COLUMNS", "NBBO_STATE_COLUMNS", "NS_PER_S", "AsofIndex", "BookIndex", "code_expr", "code_of",
           "depth_state", "lazy", "nbbo_state", "offset_ns", "side_sign", "symbol_codes", "time_of_day"]


def lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """A LazyFrame view of ``frame``."""
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def side_sign(side: str | pl.Expr = "side") -> pl.Expr:
    """s = +1.0 for BUY, -1.0 for SELL (``side``: a column name or an expression)."""
    return pl.when((pl.col(side) if isinstance(side, str) else side) == "BUY").then(1.0).otherwise(-1.0)


def offset_ns(ts: str | pl.Expr, seconds: float) -> pl.Expr:
    """``ts + seconds`` keeping ns precision (negative ``seconds`` looks back)."""
    col = pl.col(ts) if isinstance(ts, str) else ts
    return col + pl.duration(nanoseconds=round(seconds * NS_PER_S), time_unit="ns")


def symbol_codes(*symbols: pl.Series | pl.Expr | pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """``symbol, _code``: a dense code per distinct non-null symbol (sorted), from frames with a
    ``symbol`` column or string Series. Only symbols that will be looked up need a code."""
    parts = [(s.to_frame("symbol").lazy() if isinstance(s, pl.Series) else lazy(s).select("symbol"))  # type: ignore[arg-type]
             for s in symbols]
    uniq = pl.concat(parts).select(pl.col("symbol").cast(pl.String)).drop_nulls().unique().sort("symbol").collect()
    return uniq.with_row_index(_CODE)


def code_expr(column: str, codes: pl.DataFrame) -> pl.Expr:
    """Dense code of each value of string ``column`` in ``codes`` (null: not in ``codes``). An Enum
    cast: one dictionary lookup per distinct value of a dictionary-encoded Parquet column."""
    return pl.col(column).cast(pl.String).cast(pl.Enum(codes["symbol"]), strict=False).to_physical()


def code_of(symbol: pl.Series, codes: pl.DataFrame) -> pl.Series:
    """Dense code of each symbol (null: not in ``codes``)."""
    return symbol.to_frame("symbol").select(code_expr("symbol", codes)).to_series()


def _coded(frame: pl.LazyFrame, codes: pl.DataFrame, columns: Sequence[str | pl.Expr]) -> pl.DataFrame:
    """``_code`` (the symbol's code), ``ts`` and ``columns`` of ``frame``; rows of symbols without a code
    or without a time are dropped (a filter only when there are any)."""
    out = lazy(frame).select(code_expr("symbol", codes).alias(_CODE), pl.col("ts").cast(TS_NS_UTC), *columns).collect()
    if out[_CODE].null_count() or out["ts"].null_count():
        out = out.filter(pl.col(_CODE).is_not_null() & pl.col("ts").is_not_null())
    return out


def _cum_r2_at(idx: AsofIndex, hits: Hits) -> list[np.ndarray]:
    """``cum_r2`` at the rows of ``hits`` (NaN where none): per code, the running sum from the code's
    first row of squared mid log-returns (0 at the first row; a non-finite return counts as 0),
    computed once per code over its slice up to the last row any offset landed on."""
    out = [np.full(r.size, np.nan) for r in hits.rows]

    def run(part: list[tuple[int, int, int]]) -> None:
        for k, a, b in part:
            lo, hi = idx.span(hits, k, a, b)
            if hi <= lo:
                continue
            mid = idx.column_slice("mid_px", lo, hi)
            r2 = np.diff(np.log(mid), prepend=np.nan)
            np.multiply(r2, r2, out=r2)
            r2[0] = 0.0
            np.cumsum(r2, out=r2)
            if not np.isfinite(r2[-1]):  # a missing or non-positive mid somewhere: its returns count as 0
                r2 = np.diff(np.log(mid), prepend=np.nan)
                r2 *= r2
                r2[~np.isfinite(r2)] = 0.0
                np.cumsum(r2, out=r2)
            for dst, rows in zip(out, hits.rows, strict=True):
                at = rows[a:b]
                ok = at >= lo
                dst[a:b][ok] = r2[at[ok] - lo]

    for_groups(run, hits.groups, int(idx.bounds[-1]))
    return out


def nbbo_state(nbbo: pl.DataFrame | pl.LazyFrame, codes: pl.DataFrame,
               columns: Sequence[str] = NBBO_STATE_COLUMNS) -> AsofIndex:
    """NBBO as-of index for the symbols in ``codes`` with value ``columns`` (a subset of
    NBBO_STATE_COLUMNS; only those are read): ``bid_px, ask_px, mid_px`` and ``cum_r2``, the running
    sum over the day of squared mid log-returns per symbol in time order (dimensionless). Realized
    variance over ``(a, b]`` = cum_r2(b) - cum_r2(a)."""
    unknown = sorted(set(columns) - set(NBBO_STATE_COLUMNS))
    if unknown:
        raise ValueError(f"nbbo_state: unknown column(s) {unknown}; known: {NBBO_STATE_COLUMNS}")
    prices = [c for c in NBBO_STATE_COLUMNS[:3] if c in columns or (c == "mid_px" and "cum_r2" in columns)]
    q = _coded(lazy(nbbo), codes, prices)
    derived: dict[str, Derived] = {"cum_r2": _cum_r2_at} if "cum_r2" in columns else {}
    return AsofIndex(codes, q["ts"], q[_CODE], q.select(prices), derived)


class BookIndex:
    """Consolidated lit book at any time, per symbol: the sum over venues of each venue's latest
    snapshot at or before the probe (``DEPTH_STATE_COLUMNS``, shares; null where no venue has a
    snapshot yet). One as-of index keyed by (symbol code, venue); a lookup asks it once per venue."""

    def __init__(self, codes: pl.DataFrame, n_venues: int, index: AsofIndex) -> None:
        self.codes = codes
        self.n_venues = n_venues
        self.index = index

    def lookup(self, code: pl.Series, ts: pl.Series, columns: list[str] | None = None,
               offsets_s: Sequence[float] = (0.0,)) -> list[pl.DataFrame]:
        """Per offset (seconds): the consolidated book ``columns`` at ``ts + offset`` of each probe."""
        cols = list(columns) if columns is not None else list(DEPTH_STATE_COLUMNS)
        # one sort of the probes by (symbol, time) serves every venue: key = symbol * n_venues + venue
        probes = sort_probes(code, ts, self.codes.height)
        offsets_ns = [round(o * NS_PER_S) for o in offsets_s]
        per_venue = []
        for v in range(self.n_venues):
            groups = [(k * self.n_venues + v, a, b) for k, a, b in probes.groups]
            per_venue.append(self.index.frames(self.index.find(probes, groups, offsets_ns), cols))
        out = []
        for j in range(len(offsets_s)):
            seen = np.zeros(len(code), dtype=bool)
            sums = {n: np.zeros(len(code), dtype=np.int64) for n in cols}
            for frames in per_venue:
                seen |= frames[j][cols[0]].is_not_null().to_numpy()
                for n in cols:
                    sums[n] += frames[j][n].fill_null(0).cast(pl.Int64).to_numpy()
            none = pl.Series(~seen)
            out.append(pl.DataFrame([pl.Series(n, v).set(none, None) for n, v in sums.items()]))  # type: ignore[arg-type]
        return out


def depth_state(depth: pl.DataFrame | pl.LazyFrame, codes: pl.DataFrame) -> BookIndex:
    """Consolidated lit book over time per symbol (:class:`BookIndex`): at any time, the sum across
    venues of each venue's latest snapshot at or before it. Sizes in shares: ``bid_sz_5``/``ask_sz_5``
    (levels 1..5), ``bid_sz_3``/``ask_sz_3`` (levels 1..3); missing levels count as 0. Exact integer
    sums; the rows stay in feed order (a stable radix sort by (symbol, venue) when needed)."""
    def total(side: str, levels: int) -> pl.Expr:
        return pl.sum_horizontal([pl.col(f"{side}_sz_{k}").fill_null(0) for k in range(1, levels + 1)])

    sums = {"bid_sz_5": total("bid", DEPTH_LEVELS), "ask_sz_5": total("ask", DEPTH_LEVELS),
            "bid_sz_3": total("bid", 3), "ask_sz_3": total("ask", 3)}
    d = _coded(lazy(depth), codes,
               [pl.col("venue").cast(pl.String), *[e.cast(pl.Int64).alias(n) for n, e in sums.items()]])
    if d["venue"].null_count():
        d = d.filter(pl.col("venue").is_not_null())
    venues = d["venue"].unique().sort()
    n_venues = max(venues.len(), 1)
    key = (d[_CODE].cast(pl.Int64) * n_venues
           + d["venue"].cast(pl.Enum(venues)).to_physical().cast(pl.Int64)).alias(_CODE)
    keys = pl.DataFrame({_CODE: pl.int_range(codes.height * n_venues, eager=True)})
    return BookIndex(codes, n_venues, AsofIndex(keys, d["ts"], key, d.select(DEPTH_STATE_COLUMNS)))


def time_of_day(ts: str, timezone: str = "America/New_York", calendar: str = DEFAULT_CALENDAR) -> pl.Expr:
    """Fraction of the day's session (in ``timezone``) elapsed at ``ts``, clipped to [0, 1]: from the
    regular open, over the day's session length from the exchange calendar (a half-day closes early)."""
    local = pl.col(ts).dt.convert_time_zone(timezone)
    secs = (local.dt.hour().cast(pl.Float64) * 3600.0 + local.dt.minute().cast(pl.Float64) * 60.0
            + local.dt.second().cast(pl.Float64) + local.dt.nanosecond().cast(pl.Float64) / 1e9)
    early = early_close_lengths_s(calendar)
    length = (local.dt.date().replace_strict(list(early), list(early.values()), default=float(SESSION_LEN_S),
                                             return_dtype=pl.Float64) if early else pl.lit(float(SESSION_LEN_S)))
    return ((secs - SESSION_OPEN_S) / length).clip(0.0, 1.0)
