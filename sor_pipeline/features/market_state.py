"""Point-in-time market state and backward as-of lookups (polars, lazy).

``mid(t)`` is the NBBO mid of the last NBBO row at or before ``t`` (never after), per DESIGN.md.
Every lookup here is a *backward* as-of join: a tick stamped after the probe time can never change
what the probe sees. Timestamps are UTC ``Datetime("ns", "UTC")``; offsets use ``time_unit="ns"``
(a bare ``pl.duration`` silently becomes microseconds).

Ties: when two NBBO (or same-venue depth) rows share a timestamp the later one in the input wins.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from schemas._types import TS_NS_UTC
from schemas.market import DEPTH_LEVELS

NS_PER_S = 1_000_000_000

#: Value columns of the NBBO state (:func:`nbbo_state`): prices and ``cum_r2``.
NBBO_STATE_COLUMNS = ["bid_px", "ask_px", "mid_px", "cum_r2"]
#: Consolidated lit-book columns produced by :func:`depth_state` (shares, summed across venues).
DEPTH_STATE_COLUMNS = ["bid_sz_5", "ask_sz_5", "bid_sz_3", "ask_sz_3"]
_CODE = "_code"
_KEY = "_key"


def lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """A LazyFrame view of ``frame``."""
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def side_sign(side: str = "side") -> pl.Expr:
    """s = +1.0 for BUY, -1.0 for SELL."""
    return pl.when(pl.col(side) == "BUY").then(1.0).otherwise(-1.0)


def offset_ns(ts: str | pl.Expr, seconds: float) -> pl.Expr:
    """``ts + seconds`` keeping ns precision (negative ``seconds`` looks back)."""
    col = pl.col(ts) if isinstance(ts, str) else ts
    return col + pl.duration(nanoseconds=round(seconds * NS_PER_S), time_unit="ns")


def symbol_codes(*symbols: pl.Series | pl.Expr | pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """``symbol, _code``: a dense UInt32 code per distinct symbol (sorted), from frames with a ``symbol``
    column or string Series. Only symbols that will be looked up need a code."""
    parts = [(s.to_frame("symbol").lazy() if isinstance(s, pl.Series) else lazy(s).select("symbol"))  # type: ignore[arg-type]
             for s in symbols]
    uniq = pl.concat(parts).select(pl.col("symbol").cast(pl.String)).unique().sort("symbol").collect()
    return uniq.with_row_index(_CODE)


class AsofIndex:
    """Backward as-of lookup by (symbol, time) through ONE sorted int64 key per row.

    The key packs the symbol's dense code into the high bits and the time (ns since the earliest row,
    or, when the span does not fit beside the code, the rank of the time among the distinct row times)
    into the low bits, so a single stable sort orders rows by (symbol, time) with input order kept on
    ties, and a lookup is one ``searchsorted``: the last row with key <= the probe's key, kept only when
    it belongs to the probe's symbol. Ties: the later row in the input wins. Rows whose symbol has no
    code are dropped (no probe can ask for them)."""

    def __init__(self, codes: pl.DataFrame, ts: pl.Series, code: pl.Series, values: pl.DataFrame,
                 *, rank_times: bool | None = None) -> None:
        """``ts`` (ns UTC), ``code`` (UInt32, no nulls) and ``values`` row-aligned, in any order;
        ``rank_times`` forces (True) or forbids (False) time ranks instead of ns offsets."""
        self.codes = codes
        t = ts.cast(TS_NS_UTC).dt.epoch("ns")
        self.code_bits = max(1, int(max(codes.height, 1)).bit_length())
        self.time_bits = 62 - self.code_bits
        lo, hi = t.min(), t.max()
        self.base = int(lo) if lo is not None else 0  # type: ignore[arg-type]
        span = int(hi) - self.base if hi is not None else 0  # type: ignore[arg-type]
        self.uniq: np.ndarray | None = None
        if rank_times or (rank_times is None and span >= (1 << self.time_bits)):
            self.uniq = t.unique().sort().to_numpy()
            off = t.rank("dense").cast(pl.Int64) - 1
        else:
            off = t - self.base
        key = (code.cast(pl.Int64) * (1 << self.time_bits) + off).alias(_KEY)
        frame = values.with_columns(key).sort(_KEY, maintain_order=True)
        self.key: np.ndarray = frame[_KEY].to_numpy()
        self.values = frame.drop(_KEY)

    def _offsets(self, t: np.ndarray) -> np.ndarray:
        """Probe times -> low key bits: the largest row offset at or before them (-1 when before every row)."""
        if self.uniq is not None:
            return np.searchsorted(self.uniq, t, side="right") - 1
        return np.clip(t - self.base, -1, (1 << self.time_bits) - 1)

    def positions(self, code: pl.Series, ts: pl.Series) -> pl.Series:
        """Row position in ``values`` of the last row at or before each probe (null: none)."""
        c = code.cast(pl.Int64).fill_null(-1).to_numpy()
        off = self._offsets(ts.cast(TS_NS_UTC).dt.epoch("ns").fill_null(-(1 << 62)).to_numpy())
        probe = (c << self.time_bits) | np.maximum(off, 0)
        # binary searches in probe-key order touch the index sequentially (several times faster)
        order = pl.Series(probe).arg_sort().to_numpy()
        pos = np.empty(len(probe), dtype=np.int64)
        pos[order] = np.searchsorted(self.key, probe[order], side="right") - 1
        safe = np.maximum(pos, 0)
        ok = (c >= 0) & (off >= 0) & (pos >= 0) & (len(self.key) > 0)
        if len(self.key):
            ok &= (self.key[safe] >> self.time_bits) == c
        return pl.Series(np.where(ok, safe, 0), dtype=pl.UInt32).set(pl.Series(~ok), None)  # type: ignore[arg-type]

    def lookup(self, code: pl.Series, ts: pl.Series, columns: list[str] | None = None) -> pl.DataFrame:
        """``columns`` of the last row at or before each probe (nulls where there is none), probe order."""
        vals = self.values.select(columns) if columns is not None else self.values
        return vals[self.positions(code, ts)] if vals.height else vals.clear(len(code))


def code_of(symbol: pl.Series, codes: pl.DataFrame) -> pl.Series:
    """Dense code of each symbol (null: not in ``codes``)."""
    return symbol.cast(pl.String).replace_strict(codes["symbol"], codes[_CODE], default=None, return_dtype=pl.UInt32)


def _coded(frame: pl.LazyFrame, codes: pl.DataFrame) -> pl.LazyFrame:
    """``frame`` with the symbol's code as ``_code``; rows of symbols without a code are dropped."""
    return (frame.with_columns(pl.col("symbol").replace_strict(codes["symbol"], codes[_CODE], default=None,
                                                              return_dtype=pl.UInt32).alias(_CODE))
            .filter(pl.col(_CODE).is_not_null()))


def nbbo_state(nbbo: pl.DataFrame | pl.LazyFrame, codes: pl.DataFrame, *, rank_times: bool | None = None) -> AsofIndex:
    """NBBO as-of index for the symbols in ``codes``: ``bid_px, ask_px, mid_px`` and ``cum_r2``, the
    running sum over the day of squared mid log-returns per symbol in time order (dimensionless).
    Realized variance over ``(a, b]`` = cum_r2(b) - cum_r2(a)."""
    q = _coded(lazy(nbbo).select("symbol", pl.col("ts").cast(TS_NS_UTC), "bid_px", "ask_px", "mid_px"), codes).collect()
    idx = AsofIndex(codes, q["ts"], q[_CODE], q.select(_CODE, "bid_px", "ask_px", "mid_px"), rank_times=rank_times)
    logm = pl.col("mid_px").log()
    idx.values = idx.values.with_columns(
        logm.diff().pow(2).fill_null(0.0).cum_sum().over(_CODE).alias("cum_r2")).drop(_CODE)
    return idx


def depth_state(depth: pl.DataFrame | pl.LazyFrame, codes: pl.DataFrame, *,
                rank_times: bool | None = None) -> AsofIndex:
    """Consolidated lit book over time per symbol: for each snapshot time, the sum across venues of
    each venue's latest snapshot at or before it. Sizes in shares: ``bid_sz_5``/``ask_sz_5`` (levels
    1..5), ``bid_sz_3``/``ask_sz_3`` (levels 1..3); missing levels count as 0.

    Computed as a running sum of per-venue changes (each snapshot minus that venue's previous one),
    so it needs no pivot over venues and stays exact in integer arithmetic."""
    def total(side: str, levels: int) -> pl.Expr:
        return pl.sum_horizontal([pl.col(f"{side}_sz_{k}").fill_null(0) for k in range(1, levels + 1)])

    cols = DEPTH_STATE_COLUMNS
    sums = {"bid_sz_5": total("bid", DEPTH_LEVELS), "ask_sz_5": total("ask", DEPTH_LEVELS),
            "bid_sz_3": total("bid", 3), "ask_sz_3": total("ask", 3)}
    d = _coded(lazy(depth).select("symbol", "venue", pl.col("ts").cast(TS_NS_UTC),
                                  *[e.cast(pl.Int64).alias(n) for n, e in sums.items()]), codes).collect()
    if d.height == 0:
        return AsofIndex(codes, d["ts"], d[_CODE], d.select(cols), rank_times=rank_times)
    # per (symbol, venue) in time order: the change each snapshot makes to that venue's contribution
    vcodes = d.select(pl.col("venue").cast(pl.String).unique().sort()).with_row_index("_v")
    d = d.with_columns(pl.col("venue").cast(pl.String)
                       .replace_strict(vcodes["venue"], vcodes["_v"], return_dtype=pl.Int64).alias("_v"))
    nv = max(vcodes.height, 1)
    by_venue = d.select(pl.col(_CODE).cast(pl.Int64) * nv + pl.col("_v")).to_series()
    per_venue = AsofIndex(pl.DataFrame({_CODE: range(codes.height * nv)}), d["ts"], by_venue,
                          d.select(_CODE, "ts", *cols), rank_times=rank_times)
    v = per_venue.values
    group = per_venue.key >> per_venue.time_bits
    first = pl.Series(np.r_[True, group[1:] != group[:-1]] if len(group) else np.zeros(0, bool))
    delta = v.with_columns([pl.when(first).then(pl.col(c)).otherwise(pl.col(c) - pl.col(c).shift(1)).alias(c)
                            for c in cols])
    # per symbol in time order: running sum of the changes (integers: exact in any order within a tie)
    idx = AsofIndex(codes, delta["ts"], delta[_CODE], delta.select(_CODE, *cols), rank_times=rank_times)
    state = idx.values.with_columns([pl.col(c).cum_sum().over(_CODE) for c in cols])
    # several snapshots at one (symbol, ts): the last row carries the full state
    last = np.r_[idx.key[1:] != idx.key[:-1], True] if len(idx.key) else np.zeros(0, bool)
    idx.key = idx.key[last]
    idx.values = state.filter(pl.Series(last)).drop(_CODE)
    return idx


def time_of_day(ts: str, timezone: str = "America/New_York") -> pl.Expr:
    """Fraction of the 09:30-16:00 session (in ``timezone``) elapsed at ``ts``, clipped to [0, 1]."""
    local = pl.col(ts).dt.convert_time_zone(timezone)
    secs = (local.dt.hour().cast(pl.Float64) * 3600.0 + local.dt.minute().cast(pl.Float64) * 60.0
            + local.dt.second().cast(pl.Float64) + local.dt.nanosecond().cast(pl.Float64) / 1e9)
    return ((secs - 9.5 * 3600.0) / (6.5 * 3600.0)).clip(0.0, 1.0)
