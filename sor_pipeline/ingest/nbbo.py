"""National best bid and offer across venues, from venue top-of-book ``quotes``.

For each symbol, at each quote update (in time order; input order breaks ties), every venue's
latest quote is carried forward; a flagged quote (ZERO, CROSSED, EMPTY, ...) withdraws that venue
until its next unflagged quote, and a side with a price <= 0 (or null) is empty for that venue. The
NBBO is the best (highest) bid and best (lowest) ask over the venues' current quotes, with sizes
summed over the venues at those prices (shares), ``mid_px`` = (bid + ask) / 2, and ``flag`` LOCKED
(bid == ask) or CROSSED (bid > ask) across venues, null when normal. One row per (symbol, ts): the
state after the last update at that ts; rows where a side is empty are dropped, as are rows that
repeat the previous NBBO of the symbol. Rows come sorted by symbol, then ts: the lake's ``nbbo``
layout, so the partition is written without a re-sort and read by the feature build without one.

Cost: symbol and venue strings become integer codes once; one stable sort on a single int64 key
(symbol code, ts); then, per chunk of whole symbols (``chunk_rows`` rows), a numpy pass per venue
present in the chunk: the index of that venue's latest quote (running maximum), reset at symbol
starts, and an incremental best-price/size update. Work O(rows x venues), memory O(rows) for the
sorted columns plus O(chunk_rows) scratch (20 M quotes, 500 symbols, 4-13 venues: see
``benchmarks/nbbo.py``).

Streaming (ingest of a day too big to hold): :class:`QuoteSpill` sets the quotes aside a chunk at a time
as they stream past and builds the same NBBO a batch of whole symbols at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from schemas import columns_of
from schemas._types import TS_NS_UTC
from schemas.market import Nbbo

_NO_BID = -1.0
_NO_ASK = float("inf")
#: Default rows per chunk of the numpy pass (whole symbols; a bigger symbol is one chunk).
CHUNK_ROWS = 50_000


def _codes(col: str, categories: pl.Series) -> pl.Expr:
    """Integer code of a string column: its position in ``categories`` (UInt32)."""
    return pl.col(col).cast(pl.Utf8).cast(pl.Enum(categories)).to_physical()


def _coded(quotes: pl.DataFrame, symbols: pl.Series, venues: pl.Series) -> pl.DataFrame:
    """``ts`` (int64 ns), ``sid``/``vid`` (codes: positions in ``symbols``/``venues``) and the usable
    prices and sizes (withdrawn side: bid -1, ask +inf, size 0) of ``quotes``, in input order."""
    ok = pl.col("flag").is_null() if "flag" in quotes.columns else pl.lit(True)
    return quotes.select(
        pl.col("ts").cast(TS_NS_UTC).cast(pl.Int64).alias("ts"),
        _codes("symbol", symbols).alias("sid"),
        _codes("venue", venues).alias("vid"),
        pl.when(ok & (pl.col("bid_px") > 0)).then(pl.col("bid_px")).otherwise(_NO_BID).cast(pl.Float64).alias("b"),
        pl.when(ok & (pl.col("ask_px") > 0)).then(pl.col("ask_px")).otherwise(_NO_ASK).cast(pl.Float64).alias("a"),
        pl.when(ok).then(pl.col("bid_sz")).otherwise(0).fill_null(0).cast(pl.Int64).alias("bs"),
        pl.when(ok).then(pl.col("ask_sz")).otherwise(0).fill_null(0).cast(pl.Int64).alias("as"),
    )


def _sorted_inputs(quotes: pl.DataFrame) -> tuple[dict[str, np.ndarray], pl.Series]:
    """Integer-coded inputs with usable prices (withdrawn side: bid -1, ask +inf, size 0) as numpy
    arrays sorted by (symbol code, ts), ties in input order; and the symbol categories (lexically
    sorted, which is the output's symbol order)."""
    symbols = quotes.get_column("symbol").cast(pl.Utf8).unique().sort()
    venues = quotes.get_column("venue").cast(pl.Utf8).unique().sort()
    q = _coded(quotes, symbols, venues)
    if q.get_column("ts").is_sorted() and symbols.len() < 2**16:
        # a feed in time order: a stable radix sort on the 16-bit symbol code is enough
        perm = np.argsort(q.get_column("sid").to_numpy().astype(np.uint16), kind="stable")
    else:
        perm = q.select(pl.arg_sort_by("sid", "ts", maintain_order=True)).to_series().to_numpy()
    arrays = {}
    for c in q.columns:  # one column at a time, releasing each input column once permuted
        arrays[c] = q.get_column(c).to_numpy()[perm]
        q = q.drop(c)
    return arrays, symbols


def _chunk_bounds(sid: np.ndarray, chunk_rows: int) -> list[tuple[int, int]]:
    """[start, end) row ranges of whole symbols, each about ``chunk_rows`` rows (sid sorted)."""
    n = sid.size
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    bounds, lo = [], 0
    while lo < n:
        k = int(np.searchsorted(starts, lo + chunk_rows, side="left"))
        hi = int(starts[k]) if k < starts.size else n
        hi = n if hi <= lo else hi
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _venue_columns(sid: np.ndarray, vid: np.ndarray) -> tuple[np.ndarray, int]:
    """Column of each row's venue among its symbol's venues (0..k-1), and the widest k."""
    key = (sid - sid[0]).astype(np.int64) * (int(vid.max()) + 1) + vid
    pairs, col = np.unique(key, return_inverse=True)
    first = np.r_[True, (pairs[1:] // (int(vid.max()) + 1)) != (pairs[:-1] // (int(vid.max()) + 1))]
    idx = np.arange(pairs.size)
    rank = idx - np.maximum.accumulate(np.where(first, idx, 0))
    return rank[col.ravel()], int(rank.max()) + 1


def _best(px: np.ndarray, sz: np.ndarray, last: np.ndarray, dead: np.ndarray, empty: float,
          bid: bool) -> tuple[np.ndarray, np.ndarray]:
    """Best price over the venue columns (max for bids, min for asks) and the size summed over the
    venues quoting it; ``last`` (venues x rows) indexes each venue's current quote."""
    vp = px.take(last)
    vp[dead] = empty
    best = vp.max(axis=0) if bid else vp.min(axis=0)
    return best, np.where(vp == best, sz.take(last), 0).sum(axis=0)


def _nbbo_chunk(ts: np.ndarray, sid: np.ndarray, vid: np.ndarray, b: np.ndarray, a: np.ndarray,
                bs: np.ndarray, as_: np.ndarray) -> dict[str, np.ndarray]:
    """NBBO rows of one chunk of whole symbols (arrays sorted by sid, ts); returns the kept rows.

    ``last[j, i]``: row of the latest update at or before row i by the j-th venue of row i's symbol
    (running maximum along the rows); at or below ``floor[i]`` (the row before the symbol's first)
    it belongs to an earlier symbol, i.e. that venue has not quoted the symbol yet."""
    n = ts.size
    rows = np.arange(n, dtype=np.int64)
    new_sym = np.r_[True, sid[1:] != sid[:-1]]
    floor = np.maximum.accumulate(np.where(new_sym, rows, 0)) - 1
    col, width = _venue_columns(sid, vid)
    last = np.repeat(floor[None, :], width, axis=0)
    last[col, rows] = rows
    np.maximum.accumulate(last, axis=1, out=last)
    dead = last <= floor
    best_b, size_b = _best(b, bs, last, dead, _NO_BID, bid=True)
    best_a, size_a = _best(a, as_, last, dead, _NO_ASK, bid=False)
    del last, dead
    last_of_ts = np.r_[(ts[1:] != ts[:-1]) | new_sym[1:], True]
    keep = np.flatnonzero(last_of_ts & (best_b > 0) & np.isfinite(best_a))
    out = {"ts": ts[keep], "sid": sid[keep], "bid_px": best_b[keep], "bid_sz": size_b[keep],
           "ask_px": best_a[keep], "ask_sz": size_a[keep]}
    same = np.zeros(keep.size, dtype=bool)
    if keep.size > 1:
        same[1:] = np.logical_and.reduce([out[c][1:] == out[c][:-1]
                                          for c in ("sid", "bid_px", "bid_sz", "ask_px", "ask_sz")])
    return {c: arr[~same] for c, arr in out.items()}


def build_nbbo(quotes: pl.DataFrame, chunk_rows: int = CHUNK_ROWS, workers: int | None = None) -> pl.DataFrame:
    """NBBO rows conforming to ``schemas.market.Nbbo`` from canonical ``quotes`` (extra columns ignored).

    ``chunk_rows`` bounds the scratch memory of the numpy pass (rows per chunk of whole symbols;
    about ``chunk_rows`` x venues x 40 bytes per worker). ``workers`` threads work chunks in
    parallel (numpy releases the GIL; default min(4, CPUs)); the output does not depend on either."""
    if quotes.height == 0:
        return pl.DataFrame(schema=columns_of(Nbbo))
    return _nbbo_of(*_sorted_inputs(quotes), chunk_rows=chunk_rows, workers=workers)


def _nbbo_of(arrays: dict[str, np.ndarray], symbols: pl.Series, chunk_rows: int = CHUNK_ROWS,
             workers: int | None = None) -> pl.DataFrame:
    """:func:`build_nbbo` from its coded inputs sorted by (sid, ts), ties in input order."""
    cols = columns_of(Nbbo)
    names = ("ts", "sid", "vid", "b", "a", "bs", "as")
    bounds = _chunk_bounds(arrays["sid"], max(1, chunk_rows))
    n_workers = max(1, workers if workers is not None else min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(n_workers) as pool:
        parts = list(pool.map(lambda lh: _nbbo_chunk(*(arrays[c][lh[0]:lh[1]] for c in names)), bounds))
    merged = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    out = pl.DataFrame(merged).with_columns(
        pl.col("ts").cast(TS_NS_UTC), symbols.gather(merged["sid"]).alias("symbol"))
    return out.select(
        "ts", "symbol", "bid_px", "bid_sz", "ask_px", "ask_sz",
        ((pl.col("bid_px") + pl.col("ask_px")) / 2).alias("mid_px"),
        pl.when(pl.col("bid_px") == pl.col("ask_px")).then(pl.lit("LOCKED"))
        .when(pl.col("bid_px") > pl.col("ask_px")).then(pl.lit("CROSSED")).otherwise(None).alias("flag"),
    ).select(list(cols))


#: Coded quote columns a spilled chunk keeps (the symbol is known from the chunk's row spans).
_SPILLED = ("ts", "vid", "b", "a", "bs", "as")


class QuoteSpill:
    """Venue quotes set aside a chunk at a time while they stream past (the ingest), then the NBBO built a
    batch of whole symbols at a time (:meth:`nbbo`), so memory holds a chunk or a batch, never the day.

    Per chunk, the coded columns the NBBO reads (:func:`_coded`: numbers only; venue codes shared by all
    chunks) are sorted by symbol with a stable sort (a symbol's rows keep their input order) and go to an
    uncompressed Arrow IPC file in ``folder``, with the row span of each symbol. A batch (consecutive
    symbols in sorted order, about ``batch_rows`` quotes) reads its span of every chunk file (a sliced
    scan), in chunk order, and sorts it by (symbol, ts), stably: each symbol gets its quotes in the order
    :func:`build_nbbo` on the whole table gives them, and the NBBO of a symbol depends on its own quotes
    only. Batches come in symbol order, so the frames concatenated are :func:`build_nbbo` of all the
    quotes, in (symbol, ts) order."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.parts: list[tuple[Path, dict[str, tuple[int, int]]]] = []
        self.venues: list[str] = []

    def add(self, quotes: pl.DataFrame) -> None:
        """Set aside the next quotes (canonical columns; extra ones are ignored)."""
        if quotes.height == 0:
            return
        symbols = quotes.get_column("symbol").cast(pl.Utf8).unique().sort()
        known = set(self.venues)
        self.venues += [v for v in quotes.get_column("venue").cast(pl.Utf8).unique().sort().to_list()
                        if v not in known]
        q = _coded(quotes, symbols, pl.Series(self.venues, dtype=pl.Utf8))
        sid = q.get_column("sid").to_numpy()
        perm = np.argsort(sid.astype(np.uint16) if symbols.len() < 2**16 else sid, kind="stable")
        counts = np.bincount(sid, minlength=symbols.len())
        starts = np.cumsum(counts) - counts
        path = self.folder / f"quotes-{len(self.parts):06d}.arrow"
        spilled = pl.DataFrame({c: q.get_column(c).to_numpy()[perm] for c in _SPILLED})
        spilled.write_ipc(path, compression="uncompressed")
        spans = {s: (int(starts[i]), int(counts[i])) for i, s in enumerate(symbols.to_list()) if counts[i]}
        self.parts.append((path, spans))

    def nbbo(self, batch_rows: int = CHUNK_ROWS, workers: int | None = None) -> Iterator[pl.DataFrame]:
        """The NBBO of every quote added, a batch of whole symbols at a time, in (symbol, ts) order."""
        totals: dict[str, int] = {}
        for _, spans in self.parts:
            for symbol, (_, n) in spans.items():
                totals[symbol] = totals.get(symbol, 0) + n
        batch: list[str] = []
        rows = 0
        for symbol in pl.Series(list(totals), dtype=pl.Utf8).sort().to_list():
            batch.append(symbol)
            rows += totals[symbol]
            if rows >= batch_rows:
                yield from self._batch(batch, workers)
                batch, rows = [], 0
        if batch:
            yield from self._batch(batch, workers)

    def _batch(self, symbols: list[str], workers: int | None) -> Iterator[pl.DataFrame]:
        frames, sids = [], []
        for path, spans in self.parts:
            got = [(i, spans[s]) for i, s in enumerate(symbols) if s in spans]
            if got:  # consecutive symbols: one contiguous span of the chunk's symbol-sorted rows
                lo, hi = got[0][1][0], got[-1][1][0] + got[-1][1][1]
                frames.append(pl.scan_ipc(path).slice(lo, hi - lo).collect())
                sids.append(np.repeat(np.array([i for i, _ in got], dtype=np.uint32), [n for _, (_, n) in got]))
        coded = pl.concat(frames)
        sid = np.concatenate(sids)
        ts = coded.get_column("ts").to_numpy()
        perm = np.argsort(sid.astype(np.uint16) if len(symbols) < 2**16 else sid, kind="stable")
        if not _ts_sorted_within(sid[perm], ts[perm]):
            perm = np.lexsort((ts, sid))  # stable: by symbol, then time, ties in input order
        arrays = {"sid": sid[perm], **{c: coded.get_column(c).to_numpy()[perm] for c in _SPILLED}}
        del coded, frames
        out = _nbbo_of(arrays, pl.Series(symbols, dtype=pl.Utf8), workers=workers)
        if out.height:
            yield out


def _ts_sorted_within(sid: np.ndarray, ts: np.ndarray) -> bool:
    """True when ``ts`` never decreases between consecutive rows of the same ``sid``."""
    return bool(np.all((np.diff(ts) >= 0) | (np.diff(sid) != 0)))
