"""Backward as-of lookups by (symbol code, time): the one index every point-in-time lookup goes through.

A lookup takes, for each probe (code, time), the last row of that code at or before the time
(never after): a row stamped after the probe can never change what the probe sees. Ties: rows with
equal (code, time) keep their input order and the later one wins.

Cost model. On a big day (20 M NBBO rows, 2 cores) the work is dominated by memory, not arithmetic:
every fresh 20 M-row column costs a page-faulting allocation. :class:`AsofIndex` therefore keeps
rows where they are when they already come grouped by code in time order (the lake writes
``nbbo`` sorted by ``symbol, ts``), permutes them once otherwise (a feed in time order: one radix
sort of the codes), answers all the offsets of a probe set from one sort of the probes, and reads
values through numpy views of each code's slice, in search order.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from schemas._types import TS_NS_UTC

NS_PER_S = 1_000_000_000
_NULL_NS = np.iinfo(np.int64).min


def epoch_ns(ts: pl.Series) -> np.ndarray:
    """UTC epoch nanoseconds of a datetime Series as int64 (nulls as the int64 minimum)."""
    out = ts.cast(TS_NS_UTC).dt.epoch("ns")
    return (out.fill_null(_NULL_NS) if out.null_count() else out).to_numpy()


def group_time_order(group: np.ndarray, t: np.ndarray,
                     n_groups: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(permutation or None, ``t`` in sorted order, first row of each group 0..n_groups-1 then the end)
    for rows sorted by (group, t), ties in input order; ``group`` holds codes in ``0..n_groups-1``.

    Three costs: already sorted, one O(n) check; each group in time order (a feed, whole or in symbol
    batches), one stable radix sort of the group codes, checked on the result; otherwise one stable
    sort on both keys. The group bounds come from counts, so the sorted codes are never built."""
    bounds = np.r_[0, np.cumsum(np.bincount(group, minlength=n_groups))].astype(np.int64)
    if group.size < 2 or (bool((group[1:] >= group[:-1]).all())
                          and bool(((t[1:] >= t[:-1]) | (group[1:] != group[:-1])).all())):
        return None, t, bounds
    perm = np.argsort(group.astype(np.uint16) if n_groups <= 2**16 else group, kind="stable")
    ts = t[perm]
    rising = ts[1:] >= ts[:-1]
    edges = bounds[1:-1]
    rising[edges[(edges > 0) & (edges < group.size)] - 1] = True  # a new group may start earlier
    if not bool(rising.all()):
        frame = pl.DataFrame({"g": group, "t": t})
        perm = frame.select(pl.arg_sort_by("g", "t", maintain_order=True)).to_series().to_numpy().astype(np.int64)
        ts = t[perm]
    return perm, ts, bounds


def _epoch_series(ts: pl.Series | np.ndarray) -> pl.Series:
    """Epoch-ns Int64 view of datetimes (no copy for ns UTC columns), or of an int64 array."""
    if isinstance(ts, np.ndarray):
        return pl.Series(ts.astype(np.int64, copy=False))
    return ts.cast(TS_NS_UTC).to_physical()


def _code_bounds(code: pl.Series, n_codes: int) -> np.ndarray:
    """First row of each code 0..n_codes-1 in a code-sorted column, then its length (int64)."""
    first = code.search_sorted(pl.Series(np.arange(n_codes)).cast(code.dtype), side="left").to_numpy()
    return np.r_[first, len(code)].astype(np.int64)


def _slices_in_time(t: pl.Series, bounds: np.ndarray) -> bool:
    """Is every code's slice of ``t`` non-decreasing? One pass over views of the slices, no copy."""
    for lo, hi in itertools.pairwise(bounds):
        if hi - lo > 1:
            v = t.slice(int(lo), int(hi - lo)).to_numpy()
            if not bool((v[1:] >= v[:-1]).all()):
                return False
    return True


#: Work (probes or rows) below which a per-code loop runs on the calling thread alone.
PARALLEL_MIN_WORK = 200_000


def for_groups(run: Callable[[list[tuple[int, int, int]]], None], groups: list[tuple[int, int, int]],
               work: int) -> None:
    """``run`` over ``groups`` (per-code runs that write disjoint slices of shared arrays): on two
    threads, every other group each, when there is enough ``work`` to pay for it (numpy releases
    the GIL inside each call)."""
    if work < PARALLEL_MIN_WORK or len(groups) < 2 or (os.cpu_count() or 1) < 2:
        run(groups)
        return
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(run, groups[i::2]) for i in range(2)]:
            done.result()


@dataclass
class Probes:
    """Probes in search order: ``order`` permutes probe positions (those with a code and a time) into
    (code, time) order; ``times`` are their epoch-ns times in that order; ``groups`` are the
    ``(code, a, b)`` runs of one code."""

    n_probes: int
    order: np.ndarray
    times: np.ndarray
    groups: list[tuple[int, int, int]]


def sort_probes(code: pl.Series, ts: pl.Series, n_codes: int) -> Probes:
    """Sort probes by (code, time), leaving out those without a code in ``0..n_codes-1`` or a time."""
    c = code.cast(pl.Int64).fill_null(-1).to_numpy()
    t = epoch_ns(ts)
    order = np.flatnonzero((c >= 0) & (c < n_codes) & (t != _NULL_NS))
    if order.size:
        # one sort of a packed (code, time offset) key, or of both keys when the span does not fit
        cv, tv = c[order], t[order]
        t0 = int(tv.min())
        time_bits = 62 - (n_codes + 1).bit_length()
        if int(tv.max()) - t0 < (1 << time_bits):
            order = order[np.argsort((cv << time_bits) | (tv - t0))]
        else:
            order = order[np.lexsort((tv, cv))]
    pc = c[order]
    cuts = np.flatnonzero(np.r_[True, pc[1:] != pc[:-1], True]) if order.size else np.zeros(1, np.int64)
    groups = [(int(pc[a]), int(a), int(b)) for a, b in itertools.pairwise(cuts)]
    return Probes(c.size, order, t[order], groups)


@dataclass
class Hits:
    """Result of one search pass: probes in (code, time) order and, per offset, the row each lands on.

    ``order`` permutes probe positions into search order; ``groups`` are ``(code, a, b)`` runs of that
    order with one code; ``rows[j][a:b]`` (int64, -1 = none) are non-decreasing within a run."""

    n_probes: int
    order: np.ndarray
    groups: list[tuple[int, int, int]]
    rows: list[np.ndarray]

    def scatter(self, values: np.ndarray, fill: float | int) -> np.ndarray:
        """``values`` in search order -> probe order (``fill`` for probes that were not searched)."""
        out = np.full(self.n_probes, fill, dtype=values.dtype)
        out[self.order] = values
        return out


#: A column computed from the rows lookups land on, not stored: (index, hits) -> per offset, float64
#: values in search order (NaN where there is no row).
Derived = Callable[["AsofIndex", Hits], list[np.ndarray]]


class AsofIndex:
    """Backward as-of lookup by (symbol code, time) over rows sorted by (code, time).

    Sorted rows of code ``k`` are ``bounds[k]:bounds[k+1]`` (of ``ts``, and of ``values`` itself or,
    when ``perm`` is set, of ``values`` read through ``perm``), in time order with input order kept on
    ties; a lookup binary-searches the probe's time in its code's slice and
    takes the last row at or before it, so the later row in the input wins ties.

    Rows that come already sorted are never copied: ``ts`` and ``values`` stay the (chunked) polars
    columns they were read into and each code's times are a numpy view of its slice. ``derived``
    columns (e.g. ``cum_r2``) are computed only at the rows a lookup lands on."""

    def __init__(self, codes: pl.DataFrame, ts: pl.Series | np.ndarray, code: pl.Series | np.ndarray,
                 values: pl.DataFrame, derived: dict[str, Derived] | None = None) -> None:
        """``ts`` (ns UTC datetimes or epoch ns), ``code`` (dense codes < ``codes.height``, no nulls) and
        ``values`` row-aligned, in any order (no copy when already sorted by code and time)."""
        self.codes = codes
        self.derived = dict(derived or {})
        t = _epoch_series(ts)
        c = pl.Series(code) if isinstance(code, np.ndarray) else code
        #: sorted row i is row perm[i] of ``values`` (None: values are in sorted order); values are
        #: never permuted as a whole, only read through perm at the rows lookups land on
        self.perm: np.ndarray | None = None
        bounds = _code_bounds(c, codes.height) if c.is_sorted() else None
        if bounds is None or not _slices_in_time(t, bounds):
            self.perm, tn, bounds = group_time_order(c.to_numpy(), t.to_numpy(), codes.height)
            if self.perm is not None:
                t = pl.Series(tn)
        self.ts = t
        self.values = values
        self.bounds: np.ndarray = bounds
        self._times: dict[int, np.ndarray] = {}
        self._columns: dict[str, np.ndarray] = {}

    def times(self, k: int) -> np.ndarray:
        """Epoch-ns times of code ``k``'s rows (a view of the column where its slice sits in one chunk)."""
        got = self._times.get(k)
        if got is None:
            lo, hi = int(self.bounds[k]), int(self.bounds[k + 1])
            got = self._times[k] = self.ts.slice(lo, hi - lo).to_numpy()
        return got

    def span(self, hits: Hits, k: int, a: int, b: int) -> tuple[int, int]:
        """Sorted rows ``[lo, hi)`` of code ``k`` that the probe run ``a:b`` of ``hits`` needs: from the
        code's first row to the last row any offset landed on (rows rise within a run); empty if none."""
        return int(self.bounds[k]), max(int(r[b - 1]) for r in hits.rows) + 1

    def column_slice(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Sorted rows ``lo:hi`` of value column ``name`` as numpy (a view where possible)."""
        if self.perm is None:
            return self.values[name].slice(lo, hi - lo).to_numpy()
        return self._column(name)[self.perm[lo:hi]]

    def _column(self, name: str) -> np.ndarray:
        """Value column ``name`` as one numpy array, in input order (converted once)."""
        got = self._columns.get(name)
        if got is None:
            got = self._columns[name] = self.values[name].to_numpy()
        return got

    def search(self, code: pl.Series, ts: pl.Series, offsets_ns: Sequence[int] = (0,)) -> Hits:
        """Last row at or before ``ts + offset`` of each probe, per offset, from one sort of the probes
        by (code, ts): within a code, probes in time order, so each binary search starts near the last."""
        probes = sort_probes(code, ts, int(self.bounds.size) - 1)
        return self.find(probes, probes.groups, offsets_ns)

    def find(self, probes: Probes, groups: list[tuple[int, int, int]], offsets_ns: Sequence[int] = (0,)) -> Hits:
        """:meth:`search` for probes already sorted by :func:`sort_probes`, with ``groups`` naming the
        code each run of them looks up (the probes' own codes, or codes derived from them that keep
        their order, e.g. one venue of a (symbol, venue) key)."""
        rows = [np.empty(probes.order.size, dtype=np.int64) for _ in offsets_ns]
        n_codes = int(self.bounds.size) - 1

        def run(part: list[tuple[int, int, int]]) -> None:
            for k, a, b in part:
                if not 0 <= k < n_codes:
                    for found in rows:
                        found[a:b] = -1
                    continue
                lo, times, t = int(self.bounds[k]), self.times(k), probes.times[a:b]
                for found, off in zip(rows, offsets_ns, strict=True):
                    hit = np.searchsorted(times, t + off if off else t, side="right")
                    hit += lo - 1
                    hit[hit < lo] = -1
                    found[a:b] = hit

        for_groups(run, groups, probes.order.size * len(offsets_ns))
        return Hits(probes.n_probes, probes.order, groups, rows)

    def lookup(self, code: pl.Series, ts: pl.Series, columns: list[str] | None = None,
               offsets_s: Sequence[float] = (0.0,)) -> list[pl.DataFrame]:
        """Per offset (seconds; negative looks back): ``columns`` (stored or derived) of the last row at
        or before ``ts + offset`` of each probe (nulls where there is none), in probe order."""
        return self.frames(self.search(code, ts, [round(o * NS_PER_S) for o in offsets_s]), columns)

    def frames(self, hits: Hits, columns: list[str] | None = None) -> list[pl.DataFrame]:
        """Per offset of ``hits``: ``columns`` (stored or derived) at the hit rows, in probe order."""
        wanted = list(columns) if columns is not None else [*self.values.columns, *self.derived]
        stored = self._gather(hits, [c for c in wanted if c not in self.derived])
        derived = {n: self.derived[n](self, hits) for n in wanted if n in self.derived}
        out = []
        for j in range(len(hits.rows)):
            cols = {n: v[j] for n, v in stored.items()}
            cols |= {n: pl.Series(n, hits.scatter(v[j], np.nan)).fill_nan(None) for n, v in derived.items()}
            out.append(pl.DataFrame([cols[n] for n in wanted]) if wanted else pl.DataFrame().clear(hits.n_probes))
        return out

    def _gather(self, hits: Hits, names: list[str]) -> dict[str, list[pl.Series]]:
        """Per stored column, per offset: its values at the hit rows in probe order (null: no row).

        Numeric columns without nulls are read through numpy views of each code's slice, in search
        order (monotone, so sequential); anything else is gathered by polars."""
        out: dict[str, list[pl.Series]] = {}
        missing = [pl.Series(hits.scatter(r < 0, True)) for r in hits.rows]
        # hit rows in input order (through the permutation when the rows were not stored sorted)
        rows = hits.rows if self.perm is None else [np.where(r >= 0, self.perm[np.maximum(r, 0)], -1)
                                                     for r in hits.rows]
        fast = []
        for n in names:
            col = self.values[n]
            if col.dtype.is_numeric() and col.null_count() == 0 and len(col):
                fast.append(n)
            else:
                out[n] = [col[(idx := pl.Series(hits.scatter(r, -1))).set(idx < 0, None).cast(pl.UInt32)]  # type: ignore[arg-type]
                          for r in rows]
        if self.perm is not None:  # unsorted input: read each hit through the permutation, no copy
            for n in fast:
                arr = self._column(n)
                out[n] = [pl.Series(n, hits.scatter(arr[np.maximum(r, 0)], 0)).set(m, None)  # type: ignore[arg-type]
                          for r, m in zip(rows, missing, strict=True)]
            return {n: out[n] for n in names}
        buf = {n: [np.zeros(hits.order.size, dtype=self.values[n][:1].to_numpy().dtype) for _ in hits.rows]
               for n in fast}

        def run(part: list[tuple[int, int, int]]) -> None:
            for k, a, b in part:
                lo, hi = self.span(hits, k, a, b)
                if hi <= lo:
                    continue
                for n in fast:
                    view = self.column_slice(n, lo, hi)
                    for dst, rows in zip(buf[n], hits.rows, strict=True):
                        dst[a:b] = view[np.maximum(rows[a:b] - lo, 0)]

        if fast:
            for_groups(run, hits.groups, hits.order.size * len(hits.rows) * len(fast))
        for n in fast:
            out[n] = [pl.Series(n, hits.scatter(v, 0)).set(m, None)  # type: ignore[arg-type]
                      for v, m in zip(buf[n], missing, strict=True)]
        return {n: out[n] for n in names}
