"""Ingest: one reader per source format, each normalising to the canonical tables at the edge; drop
detection; the NBBO; :func:`sor_pipeline.ingest.day.ingest_day` validates a day and writes the lake.
(The simulator's writers of these formats live in :mod:`sor_pipeline.simulation.writers`.)

Formats: our execution log as CSV / JSON lines (execlog), FIX 4.2/4.4 tag=value (fix), canonical
tick Parquet/CSV (ticks), LOBSTER message/orderbook pairs (lobster), TAQ trade/quote CSV (taq).
``read_drop`` reads a whole folder; ``build_nbbo`` derives the NBBO from venue quotes.
"""

from sor_pipeline.ingest.base import (
    AdapterResult,
    DropError,
    EmptyDropError,
    FormatError,
    UnrecognisedFileError,
)
from sor_pipeline.ingest.detect import Detected, detect_file
from sor_pipeline.ingest.drop import read_drop
from sor_pipeline.ingest.execlog import read_canonical_csv, read_canonical_jsonl, read_execlog
from sor_pipeline.ingest.fix import read_fix_log
from sor_pipeline.ingest.lobster import read_lobster
from sor_pipeline.ingest.nbbo import build_nbbo
from sor_pipeline.ingest.taq import read_taq_quotes, read_taq_trades
from sor_pipeline.ingest.ticks import read_ticks

__all__ = [
    "AdapterResult",
    "Detected",
    "DropError",
    "EmptyDropError",
    "FormatError",
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
]
