"""Recognise a raw-drop file's format (and canonical table) by its name and content.

Formats: ``csv`` / ``jsonl`` / ``parquet`` (canonical columns: execution log or ticks, table from the
header / first record keys / Parquet schema), ``fix`` (a line with ``8=FIX``), ``lobster-message``
and ``lobster-orderbook`` (LOBSTER file name and numeric rows of 6 / 4 x levels fields),
``taq-quotes`` and ``taq-trades`` (TAQ header). Anything else raises
:class:`UnrecognisedFileError` naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sor_pipeline.ingest.base import ADAPTER_TABLES, UnrecognisedFileError, explain_mismatch, match_table
from sor_pipeline.ingest.lobster import parse_name
from sor_pipeline.ingest.taq import taq_kind
from sor_pipeline.ingest.ticks import parquet_table

PEEK_BYTES = 65_536


@dataclass(frozen=True)
class Detected:
    path: Path
    format: str
    table: str | None = None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _numeric_fields(line: str) -> list[str] | None:
    parts = line.split(",")
    try:
        [float(p) for p in parts]
    except ValueError:
        return None
    return parts


def detect_file(path: Path) -> Detected:
    """The format of one file, from its name and first bytes."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(PEEK_BYTES)
    if head[:4] == b"PAR1":
        try:
            table = parquet_table(path, ADAPTER_TABLES)
        except Exception as exc:
            raise UnrecognisedFileError(f"{path}: unreadable Parquet file ({exc})") from exc
        if table is None:
            columns = list(pl.read_parquet_schema(path))
            raise UnrecognisedFileError(f"{path}: Parquet columns match no canonical table: "
                                        f"{explain_mismatch(columns)}")
        return Detected(path, "parquet", table)
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    first = _first_line(text)
    if not first:
        raise UnrecognisedFileError(f"{path}: empty file, format unknown")
    if "8=FIX" in first:
        return Detected(path, "fix")
    if first.startswith("{"):
        try:
            keys = list(json.loads(first))
        except (json.JSONDecodeError, TypeError):
            keys = []
        table = match_table(keys, ADAPTER_TABLES)
        if table is None:
            raise UnrecognisedFileError(f"{path}: JSON record keys {keys[:10]} match no canonical table: "
                                        f"{explain_mismatch(keys)}")
        return Detected(path, "jsonl", table)
    header = [c.strip().strip('"') for c in first.split(",")]
    table = match_table(header, ADAPTER_TABLES)
    if table is not None:
        return Detected(path, "csv", table)
    kind = taq_kind(header)
    if kind is not None:
        return Detected(path, f"taq-{kind}", kind)
    meta = parse_name(path)
    fields = _numeric_fields(first)
    if meta is not None and fields is not None:
        if meta["kind"] == "message" and len(fields) >= 6:
            return Detected(path, "lobster-message")
        if meta["kind"] == "orderbook" and len(fields) % 4 == 0:
            return Detected(path, "lobster-orderbook")
    hint = f"; {explain_mismatch(header)}" if "," in first and _numeric_fields(first) is None else ""
    raise UnrecognisedFileError(f"{path}: format not recognised (first line: {first[:80]!r}){hint}")
