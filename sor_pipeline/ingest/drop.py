"""Read a whole raw drop (one trading date's folder) into canonical tables.

Every file under the folder (recursively) is recognised by name and content (detect.py) and read
by its adapter; files and folders whose name starts with ``_`` or ``.`` are ignored (the
simulator's ``_truth/``). LOBSTER message/orderbook files are read as pairs; when one symbol and
date come at several book depths, the deepest pair is read and the others are listed as
superseded. TAQ files are sliced to ``day`` (New York date).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

import polars as pl

from sor_pipeline.ingest.base import (
    AdapterResult,
    EmptyDropError,
    FormatError,
    concat_tables,
    empty_rejects,
)
from sor_pipeline.ingest.detect import Detected, detect_file
from sor_pipeline.ingest.execlog import read_canonical_csv, read_canonical_jsonl
from sor_pipeline.ingest.fix import FixTags, read_fix_log
from sor_pipeline.ingest.lobster import parse_name, partner_path, read_lobster
from sor_pipeline.ingest.mapping import Mapping, read_mapped
from sor_pipeline.ingest.taq import read_taq_quotes, read_taq_trades
from sor_pipeline.ingest.ticks import read_ticks

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


def _guarded(path: Path, fmt: str, read: Callable[[], AdapterResult]) -> AdapterResult:
    """``read()``, with a library error (a malformed line the format's fast reader cannot take)
    turned into a FormatError naming the file, the format and what the library said."""
    try:
        return read()
    except (pl.exceptions.PolarsError, ValueError) as exc:
        if isinstance(exc, FormatError):
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f"{path}: not a valid {fmt} file: {detail}") from exc


def read_drop(day_dir: Path, day: date, mapping: Mapping | None = None,
              fix_tags: FixTags | None = None) -> AdapterResult:
    """All files of the drop ``day_dir`` for trading date ``day`` -> canonical tables + lineage,
    parse rejects and a per-file record. Files a ``mapping`` names are read through it
    (:mod:`sor_pipeline.ingest.mapping`), the others by format detection; FIX logs take their router
    fields from ``fix_tags``. Raises EmptyDropError (missing/empty folder),
    UnrecognisedFileError (a file of unknown format) or FormatError, each naming the path."""
    day_dir = Path(day_dir)
    if not day_dir.is_dir():
        raise EmptyDropError(f"{day_dir}: raw drop folder does not exist")
    files = drop_files(day_dir)
    if not files:
        raise EmptyDropError(f"{day_dir}: raw drop holds no data files")
    mapped = [p for p in files if mapping is not None and mapping.table_of(p) is not None]
    found = [detect_file(p) for p in files if p not in mapped]  # recognise everything before reading anything
    lobster = [d for d in found if d.format.startswith("lobster")]
    messages, skipped = _lobster_pairs(lobster)

    results = [_guarded(m, "LOBSTER", partial(read_lobster, m)) for m in messages]
    results += [read_mapped(p, mapping) for p in mapped if mapping is not None]
    results += [_guarded(d.path, d.format, partial(read_file, d, day, fix_tags))
                for d in found if not d.format.startswith("lobster")]
    parts: dict[str, list[pl.DataFrame]] = {}
    rejects = [r.rejects for r in results if r.rejects.height]
    out = AdapterResult()
    for r in results:
        for table, frame in r.tables.items():
            parts.setdefault(table, []).append(frame)
        out.files.extend(r.files)
    out.files.extend(skipped)
    out.tables = concat_tables(parts)
    out.rejects = pl.concat(rejects) if rejects else empty_rejects()
    if not any(f.height for f in out.tables.values()) and out.rejects.height == 0:
        raise EmptyDropError(f"{day_dir}: raw drop holds no rows")
    return out
