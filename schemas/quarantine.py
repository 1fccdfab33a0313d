"""The ``quarantine`` dataset: one row per rejected input row, with every reason it failed."""

from __future__ import annotations

import pandera.polars as pa

from schemas._types import TsNsUtc


class Quarantine(pa.DataFrameModel):
    table: str = pa.Field(description="Canonical table the row was meant for.")
    source_file: str = pa.Field(nullable=True, description="Raw file the row came from.")
    source_line: int = pa.Field(nullable=True, description="1-based line (or record) number in source_file.")
    row_index: int = pa.Field(
        nullable=True, ge=0,
        description="Row position in the validated frame; null for a line that never became a row.",
    )
    columns: str = pa.Field(nullable=True, description="Failed column(s), '; '-joined.")
    checks: str = pa.Field(description="Failed check(s), '; '-joined.")
    reason: str = pa.Field(description="Human-readable reason: column: check (value) ...")
    row_json: str = pa.Field(description="The rejected row as JSON, or the raw line if it never became a row.")
    quarantined_ts: TsNsUtc = pa.Field(description="When the row was quarantined, UTC ns.")

    class Config:
        coerce = False
        strict = False
