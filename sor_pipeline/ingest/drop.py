"""Read a whole raw drop (one trading date's folder) into canonical tables.

Every file under the folder (recursively) is recognised by name and content (detect.py) and read
by its adapter; files and folders whose name starts with ``_`` or ``.`` are ignored (the
simulator's ``_truth/``). LOBSTER message/orderbook files are read as pairs; when one symbol and
date come at several book depths, the deepest pair is read and the others are listed as
superseded. TAQ files are sliced to ``day`` (New York date).

:func:`open_drop` recognises the files without reading them; its :class:`Drop` reads them when asked,
whole or (a table of) a chunk of rows at a time (the streaming ingest); :func:`read_drop` reads it all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from sor_pipeline.ingest.base import (
    TICK_TABLES,
    AdapterResult,
    EmptyDropError,
    FormatError,
    concat_tables,
    empty_rejects,
    with_source,
)
from sor_pipeline.ingest.detect import Detected, detect_file
from sor_pipeline.ingest.execlog import read_canonical_csv, read_canonical_jsonl
from sor_pipeline.ingest.fix import FixTags, read_fix_log
from sor_pipeline.ingest.lobster import parse_name, partner_path, read_lobster
from sor_pipeline.ingest.mapping import Mapping, read_mapped
from sor_pipeline.ingest.taq import read_taq_quotes, read_taq_trades
from sor_pipeline.ingest.ticks import canonical_frame, read_ticks

T = TypeVar("T")

#: The simulator's ground truth beside a drop (``<day>/_truth/``): never read as data, only loaded into
#: the lake's grading-truth dataset (:data:`sor_pipeline.storage.lake.TRUTH_DATASET`) when present.
TRUTH_DIR = "_truth"
TRUTH_FILE = "oracle.parquet"


def truth_path(day_dir: Path) -> Path:
    return Path(day_dir) / TRUTH_DIR / TRUTH_FILE


def drop_files(day_dir: Path) -> list[Path]:
    """Data files of a drop, sorted, skipping anything under a ``_``/``.`` name."""
    out = []
    for p in sorted(day_dir.rglob("*")):
        rel = p.relative_to(day_dir)
        if any(part.startswith(("_", ".")) for part in rel.parts) or not p.is_file():
            continue
        out.append(p)
    return out


def _lobster_pairs(found: list[Detected]) -> tuple[list[Path], list[dict[str, object]]]:
    """Message files to read (deepest per symbol/date) and file records for superseded pairs."""
    paths = {d.path for d in found}
    best: dict[tuple[str, str], tuple[int, Path]] = {}
    for d in found:
        if d.format != "lobster-message" and partner_path(d.path) not in paths:
            raise FormatError(f"{d.path}: LOBSTER orderbook file without its message file")
        if d.format == "lobster-message":
            if partner_path(d.path) not in paths:
                raise FormatError(f"{d.path}: LOBSTER message file without its orderbook file")
            meta = parse_name(d.path) or {}
            key, levels = (meta["symbol"], meta["date"]), int(meta["levels"])
            if key not in best or levels > best[key][0]:
                best[key] = (levels, d.path)
    chosen = {p for _, p in best.values()}
    skipped: list[dict[str, object]] = []
    for d in found:
        msg = d.path if d.format == "lobster-message" else partner_path(d.path)
        if msg not in chosen:
            skipped.append({"path": str(d.path), "format": d.format, "tables": [], "rows": {},
                            "note": "superseded by a deeper LOBSTER book for the same symbol and date"})
    return sorted(chosen), skipped


def read_file(found: Detected, day: date, fix_tags: FixTags | None = None) -> AdapterResult:
    """Read one recognised file (not LOBSTER, which goes by pairs)."""
    if found.format == "fix":
        return read_fix_log(found.path, fix_tags)
    if found.format == "csv":
        return read_canonical_csv(found.path, found.table)
    if found.format == "jsonl":
        return read_canonical_jsonl(found.path, found.table)
    if found.format == "parquet":
        return read_ticks(found.path, found.table)
    if found.format == "taq-quotes":
        return read_taq_quotes(found.path, day)
    if found.format == "taq-trades":
        return read_taq_trades(found.path, day)
    raise FormatError(f"{found.path}: no reader for format {found.format!r}")


def _guarded(path: Path, fmt: str, read: Callable[[], T]) -> T:
    """``read()``, with a library error (a malformed line the format's fast reader cannot take)
    turned into a FormatError naming the file, the format and what the library said."""
    try:
        return read()
    except (pl.exceptions.PolarsError, ValueError) as exc:
        if isinstance(exc, FormatError):
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f"{path}: not a valid {fmt} file: {detail}") from exc


@dataclass
class _Unit:
    """One readable thing of a drop: a file (or a LOBSTER pair), read when first asked."""

    path: Path
    read: Callable[[], AdapterResult]
    table: str | None = None  # the one table it yields, when known before reading (single-table formats)
    fmt: str = ""
    result: AdapterResult | None = None


@dataclass
class Drop:
    """A recognised drop: every file detected (and every recognition error raised) up front, each file
    read when first asked, in ``read_drop``'s order (LOBSTER pairs, mapped files, the others by path).

    :meth:`chunks` hands out one table a chunk of rows at a time; a canonical Parquet tick file is read
    a slice at a time, any other file whole (then sliced). :meth:`take` gives a whole table. Frames,
    rejects and file records come in ``read_drop``'s order, so a table's chunks concatenate to the frame
    ``read_drop`` gives for it."""

    day_dir: Path
    units: list[_Unit]
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def read(self, unit: _Unit) -> AdapterResult:
        if unit.result is None:
            unit.result = unit.read()
        return unit.result

    def _parquet(self, unit: _Unit) -> bool:
        """A canonical tick Parquet file not read yet: sliced straight from the file."""
        return unit.result is None and unit.fmt == "parquet" and unit.table in TICK_TABLES

    def rows(self, unit: _Unit) -> int:
        """Rows the unit yields (all tables); a Parquet file's from its metadata, without reading it."""
        if self._parquet(unit):
            return _guarded(unit.path, "parquet", partial(_parquet_rows, unit.path))
        return sum(f.height for f in self.read(unit).tables.values())

    def read_all(self, but: tuple[str, ...] = ()) -> dict[str, pl.DataFrame]:
        """Read every unit except the single-table files of the tables ``but``; the tables read, whole
        (frames are handed over: a later call does not give them again)."""
        parts: dict[str, list[pl.DataFrame]] = {}
        for u in self.units:
            if u.table is not None and u.table in but:
                continue
            res = self.read(u)
            for table in [t for t in res.tables if t not in but]:
                parts.setdefault(table, []).append(res.tables.pop(table))
        return concat_tables(parts)

    def tables(self) -> set[str]:
        """Tables the drop carries (a file not read yet counts by its detected table)."""
        out: set[str] = set()
        for u in self.units:
            out.update(u.result.tables if u.result is not None else ([u.table] if u.table else []))
        return out

    def any_rows(self, tables: tuple[str, ...] | None = None, rejects: bool = False) -> bool:
        """True when some unit yields a row (of ``tables``; or a parse reject, with ``rejects``). Reads
        only what it must: the files read already, then Parquet metadata, then the other files."""
        def counts(u: _Unit) -> bool:
            return tables is None or u.table in tables or u.table is None

        for u in sorted(self.units, key=lambda u: (u.result is None, self._parquet(u) is False)):
            if not counts(u):
                continue
            if self._parquet(u):
                if self.rows(u):
                    return True
                continue
            res = self.read(u)
            if any(f.height for t, f in res.tables.items() if tables is None or t in tables):
                return True
            if rejects and res.rejects.height:
                return True
        return False

    def chunks(self, table: str, rows: int) -> Iterator[pl.DataFrame]:
        """``table``'s rows, at most ``rows`` per frame, in order; each file's frame is let go of once
        handed out. Nothing when no file carries the table."""
        rows = max(1, rows)
        for u in self.units:
            if u.table not in (table, None) and u.result is None:
                continue
            if self._parquet(u):
                yield from _parquet_chunks(u, rows)
                continue
            frame = self.read(u).tables.pop(table, None)
            if frame is None:
                continue
            for off in range(0, frame.height, rows):
                yield frame.slice(off, rows)
            del frame

    def rejects(self) -> pl.DataFrame:
        """Parse rejects of every file read so far, in ``read_drop``'s order."""
        got = [u.result.rejects for u in self.units if u.result is not None and u.result.rejects.height]
        return pl.concat(got) if got else empty_rejects()

    def files(self) -> list[dict[str, Any]]:
        """One record per file as ``read_drop`` gives them (a Parquet tick file's from its metadata)."""
        out: list[dict[str, Any]] = []
        for u in self.units:
            if self._parquet(u):
                out.append(_parquet_record(u.path, str(u.table), self.rows(u)))
            else:
                out.extend(self.read(u).files)
        return out + self.skipped


def _parquet_rows(path: Path) -> int:
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _parquet_record(path: Path, table: str, rows: int) -> dict[str, Any]:
    return {"path": str(path), "format": "parquet", "tables": [table], "rows": {table: rows}}


def _parquet_chunks(unit: _Unit, rows: int) -> Iterator[pl.DataFrame]:
    """A canonical tick Parquet file a slice at a time: what :func:`read_ticks` gives, sliced."""
    path, table = unit.path, str(unit.table)
    total = _guarded(path, "parquet", partial(_parquet_rows, path))
    for off in range(0, total, rows):
        raw = _guarded(path, "parquet", pl.scan_parquet(path).slice(off, rows).collect)
        yield with_source(canonical_frame(raw, table), path, first_line=off + 1)


def open_drop(day_dir: Path, day: date, mapping: Mapping | None = None, fix_tags: FixTags | None = None) -> Drop:
    """Recognise every file of the drop ``day_dir`` (reading none): raises EmptyDropError
    (missing/empty folder), UnrecognisedFileError or FormatError (LOBSTER pairing), naming the path."""
    day_dir = Path(day_dir)
    if not day_dir.is_dir():
        raise EmptyDropError(f"{day_dir}: raw drop folder does not exist")
    files = drop_files(day_dir)
    if not files:
        raise EmptyDropError(f"{day_dir}: raw drop holds no data files")
    mapped = [p for p in files if mapping is not None and mapping.table_of(p) is not None]
    found = [detect_file(p) for p in files if p not in mapped]  # recognise everything before reading anything
    messages, skipped = _lobster_pairs([d for d in found if d.format.startswith("lobster")])
    units = [_Unit(m, partial(_guarded, m, "LOBSTER", partial(read_lobster, m)), fmt="lobster") for m in messages]
    if mapping is not None:
        units += [_Unit(p, partial(read_mapped, p, mapping), mapping.table_of(p), "mapped") for p in mapped]
    units += [_Unit(d.path, partial(_guarded, d.path, d.format, partial(read_file, d, day, fix_tags)),
                    None if d.format == "fix" else d.table, d.format)
              for d in found if not d.format.startswith("lobster")]
    return Drop(day_dir, units, skipped)


def read_drop(day_dir: Path, day: date, mapping: Mapping | None = None,
              fix_tags: FixTags | None = None) -> AdapterResult:
    """All files of the drop ``day_dir`` for trading date ``day`` -> canonical tables + lineage,
    parse rejects and a per-file record. Files a ``mapping`` names are read through it
    (:mod:`sor_pipeline.ingest.mapping`), the others by format detection; FIX logs take their router
    fields from ``fix_tags``. Raises EmptyDropError (missing/empty folder),
    UnrecognisedFileError (a file of unknown format) or FormatError, each naming the path."""
    drop = open_drop(day_dir, day, mapping, fix_tags)
    for u in drop.units:
        drop.read(u)
    out = AdapterResult(files=drop.files(), rejects=drop.rejects())
    out.tables = drop.read_all()
    if not any(f.height for f in out.tables.values()) and out.rejects.height == 0:
        raise EmptyDropError(f"{drop.day_dir}: raw drop holds no rows")
    return out
