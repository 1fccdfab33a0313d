"""Ingest adapters: one per source format, each normalising to the canonical tables at the edge,
plus the writers the simulator uses to produce production-format raw drops (writer and reader of
each format are inverses).

Formats: our execution log as CSV / JSON lines (execlog), FIX 4.2/4.4 tag=value (fix), canonical
tick Parquet/CSV (ticks), LOBSTER message/orderbook pairs (lobster), TAQ trade/quote CSV (taq).
``read_drop`` reads a whole folder; ``build_nbbo`` derives the NBBO from venue quotes.
"""

from sor_pipeline.adapters.base import (
    AdapterResult,
    DropError,
    EmptyDropError,
    FormatError,
    UnrecognisedFileError,
)
from sor_pipeline.adapters.detect import Detected, detect_file
from sor_pipeline.adapters.drop import read_drop
from sor_pipeline.adapters.execlog import read_canonical_csv, read_canonical_jsonl, read_execlog, write_execlog
from sor_pipeline.adapters.fix import read_fix_log, write_fix_log
from sor_pipeline.adapters.lobster import read_lobster
from sor_pipeline.adapters.nbbo import build_nbbo
from sor_pipeline.adapters.taq import read_taq_quotes, read_taq_trades
from sor_pipeline.adapters.ticks import TickWriter, read_ticks, write_ticks

__all__ = [
    "AdapterResult",
    "Detected",
    "DropError",
    "EmptyDropError",
    "FormatError",
    "TickWriter",
    "UnrecognisedFileError",
    "build_nbbo",
    "detect_file",
    "read_canonical_csv",
    "read_canonical_jsonl",
    "read_drop",
    "read_execlog",
    "read_fix_log",
    "read_lobster",
    "read_taq_quotes",
    "read_taq_trades",
    "read_ticks",
    "write_execlog",
    "write_fix_log",
    "write_ticks",
]
