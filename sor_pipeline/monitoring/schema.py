"""The ``monitoring`` dataset: one row per check result, and helpers to build it.

Columns: ``check`` (name, e.g. ``quote_gap``), ``category`` (feed / model / drift), ``venue`` and
``symbol`` (null when the check is not per venue / symbol), ``subject`` (the table, feature or outcome
checked; null when the check has none), ``severity`` (info / warn / error: the
severity of the outcome; a passing check is ``info``), ``value`` and ``threshold`` (float, units in
``message``/check docs, null when not applicable), ``passed`` (False = breach), ``message``.
The partition column ``date`` lives in the lake path; in-memory result frames carry it too.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandera.polars as pa
import polars as pl

CATEGORIES = ["feed", "model", "drift"]
SEVERITY_VALUES = ["info", "warn", "error"]


class MonitorResults(pa.DataFrameModel):
    """One monitoring check result."""

    check: str = pa.Field(str_length={"min_value": 1}, description="Check name, e.g. quote_gap, psi_feature.")
    category: str = pa.Field(isin=CATEGORIES, description="feed, model or drift.")
    venue: str = pa.Field(nullable=True, description="Venue code; null if not per venue.")
    symbol: str = pa.Field(nullable=True, description="Symbol; null if not per symbol.")
    subject: str = pa.Field(nullable=True, description="What was checked: table, feature or outcome name.")
    severity: str = pa.Field(isin=SEVERITY_VALUES, description="info (passed or informational), warn, error.")
    value: float = pa.Field(nullable=True, description="Measured value (units per check).")
    threshold: float = pa.Field(nullable=True, description="The threshold the value breached or was held to.")
    passed: bool = pa.Field(description="False = breach (severity warn or error).")
    message: str = pa.Field(description="Human-readable result.")

    class Config:
        coerce = False
        strict = False


RESULT_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "check": pl.String(),
    "category": pl.String(),
    "venue": pl.String(),
    "symbol": pl.String(),
    "subject": pl.String(),
    "severity": pl.String(),
    "value": pl.Float64(),
    "threshold": pl.Float64(),
    "passed": pl.Boolean(),
    "message": pl.String(),
}


def result(check: str, category: str, *, severity: str = "info", passed: bool = True,
           value: float | None = None, threshold: float | None = None, message: str = "",
           venue: str | None = None, symbol: str | None = None, subject: str | None = None) -> dict[str, Any]:
    """One result row (without ``date``). ``passed`` defaults to True; breaches pass ``passed=False``."""
    return {"check": check, "category": category, "venue": venue, "symbol": symbol, "subject": subject,
            "severity": severity,
            "value": None if value is None else float(value),
            "threshold": None if threshold is None else float(threshold),
            "passed": passed, "message": message or check}


def results_frame(day: date, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows from :func:`result` -> a results frame with ``date`` first, in :data:`RESULT_SCHEMA` dtypes."""
    if not rows:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    body = {k: [r[k] for r in rows] for k in RESULT_SCHEMA if k != "date"}
    frame = pl.DataFrame(body, schema={k: v for k, v in RESULT_SCHEMA.items() if k != "date"})
    # NaN values (e.g. an empty mean) are unknown, not a number
    frame = frame.with_columns(pl.col("value").fill_nan(None), pl.col("threshold").fill_nan(None))
    return frame.select(pl.lit(day, dtype=pl.Date).alias("date"), pl.all())


def empty_results() -> pl.DataFrame:
    return pl.DataFrame(schema=RESULT_SCHEMA)


def grade(value: float, warn: float | None, error: float | None, *, higher_is_worse: bool = True,
          error_severity: str = "error") -> tuple[str, bool, float | None]:
    """(severity, passed, breached threshold) for ``value`` against warn/error limits.

    ``higher_is_worse``: breach when value > limit; else when value < limit. A None limit never fires.
    """
    def over(limit: float | None) -> bool:
        if limit is None:
            return False
        return value > limit if higher_is_worse else value < limit

    if over(error):
        return error_severity, error_severity == "info", error
    if over(warn):
        return "warn", False, warn
    return "info", True, warn if warn is not None else error
