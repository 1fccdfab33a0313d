"""A drop read one table at a time (the streaming ingest's reader).

:func:`sor_pipeline.ingest.drop.read_drop` reads every file of a drop before validation starts, so an
ingest holds the whole drop at once (6 GB on the simulated big day). :class:`DropStream` recognises
every file first (same detection, same errors, before anything is read), reads up front only the
files that may carry several tables (FIX logs, LOBSTER pairs, a Parquet file whose table is found on
reading), and reads the single-table files of a table only when the ingest asks for that table, so
memory holds one table (plus what is staged) at a time. Frames, rejects and file records come out in
the order ``read_drop`` gives them (file order within a table), so the partitions are byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from sor_pipeline.ingest.base import AdapterResult, EmptyDropError, concat_tables, empty_rejects
from sor_pipeline.ingest.detect import Detected, detect_file
from sor_pipeline.ingest.drop import _guarded, _lobster_pairs, drop_files, read_file
from sor_pipeline.ingest.lobster import read_lobster

#: Formats whose file holds exactly one known table (read lazily, when that table is taken).
_ONE_TABLE = {"csv": None, "jsonl": None, "parquet": None, "taq-quotes": "quotes", "taq-trades": "trades"}


@dataclass
class _Unit:
    index: int
    read: Callable[[], AdapterResult]
    table: str | None  # the one table it yields, or None: read up front
    result: AdapterResult | None = None


@dataclass
class DropStream:
    """The files of one drop, read table by table (see the module docstring)."""

    day_dir: Path
    units: list[_Unit]
    skipped: list[dict[str, Any]]
    _rows: int = 0
    _rejects_seen: int = 0
    _taken: set[str] = field(default_factory=set)

    @classmethod
    def open(cls, day_dir: Path, day: date) -> DropStream:
        """Recognise every file of ``day_dir`` (raising as ``read_drop`` does) and read the multi-table
        files; single-table files wait for :meth:`take`."""
        day_dir = Path(day_dir)
        if not day_dir.is_dir():
            raise EmptyDropError(f"{day_dir}: raw drop folder does not exist")
        files = drop_files(day_dir)
        if not files:
            raise EmptyDropError(f"{day_dir}: raw drop holds no data files")
        found = [detect_file(p) for p in files]
        messages, skipped = _lobster_pairs([d for d in found if d.format.startswith("lobster")])
        units = [_Unit(i, partial(_guarded, m, "LOBSTER", partial(read_lobster, m)), None)
                 for i, m in enumerate(messages)]
        for d in (d for d in found if not d.format.startswith("lobster")):
            units.append(_Unit(len(units), partial(_guarded, d.path, d.format, partial(read_file, d, day)),
                               _one_table(d)))
        stream = cls(day_dir, units, skipped)
        for u in units:
            if u.table is None:
                stream._read(u)
        return stream

    def _read(self, unit: _Unit) -> AdapterResult:
        if unit.result is None:
            unit.result = unit.read()
            self._rows += sum(f.height for f in unit.result.tables.values())
            self._rejects_seen += unit.result.rejects.height
        return unit.result

    def tables(self) -> list[str]:
        """Tables the drop carries (known before reading the single-table files)."""
        out: set[str] = set()
        for u in self.units:
            if u.result is not None:
                out.update(t for t, f in u.result.tables.items())
            elif u.table is not None:
                out.add(u.table)
        return sorted(out)

    def take(self, table: str) -> pl.DataFrame | None:
        """Read ``table``'s files (file order), concatenated as ``read_drop`` does; their frames of that
        table are then let go of. None when no file yields it."""
        parts: list[pl.DataFrame] = []
        for u in self.units:
            if u.table == table or u.table is None:
                res = self._read(u)
                frame = res.tables.pop(table, None)
                if frame is not None:
                    parts.append(frame)
        self._taken.add(table)
        return concat_tables({table: parts}).get(table)

    def rejects(self) -> pl.DataFrame:
        """Parse rejects of every file read so far, in file order."""
        got = [u.result.rejects for u in self.units if u.result is not None and u.result.rejects.height]
        return pl.concat(got) if got else empty_rejects()

    def files(self) -> list[dict[str, Any]]:
        """Per-file records, in ``read_drop``'s order (the files not read yet are read)."""
        out: list[dict[str, Any]] = []
        for u in self.units:
            out.extend(self._read(u).files)
        return out + self.skipped

    def check_not_empty(self) -> None:
        """``read_drop``'s end check, once every file has been read."""
        for u in self.units:
            self._read(u)
        if self._rows == 0 and self._rejects_seen == 0:
            raise EmptyDropError(f"{self.day_dir}: raw drop holds no rows")


def _one_table(d: Detected) -> str | None:
    if d.format not in _ONE_TABLE:
        return None
    return _ONE_TABLE[d.format] or d.table
