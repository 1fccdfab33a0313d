"""Ingest one trading date: raw drop -> adapters -> validation -> lake (with quarantine) -> nbbo.

All tables of the drop (and the NBBO derived from its quotes) are validated and written aside
(``Lake.stage``) one at a time, and published only once every one passes its contract, so a broken
drop leaves the lake exactly as it was; each table is let go of once staged, so memory holds the drop
once. Rows that fail a check are quarantined with the reason; if more than
``Settings.ingest.max_reject_share`` of a table's rows fail (a drop whose tables disagree: fills for unknown
child orders, quotes for another date), the ingest fails, naming the file(s) and the main reason, and
writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from schemas.relations import (
    check_children_against_parents,
    check_children_venues,
    check_fills_against_children,
    check_on_date,
)
from sor_pipeline.config.settings import Settings
from sor_pipeline.ingest.base import AdapterResult

if TYPE_CHECKING:
    from sor_pipeline.ingest.stream import DropStream
from sor_pipeline.storage.lake import TRUTH_DATASET, Lake, Staged
from sor_pipeline.storage.validation import SOURCE_FILE, Split

#: Canonical tables an ingest writes, in dependency order.
INGEST_TABLES = ["venues", "parent_orders", "child_orders", "fills", "quotes", "depth", "trades"]
#: Timestamp column that must fall on the trading date, per table.
DATE_COLUMNS = {"parent_orders": "arrival_ts", "child_orders": "sent_ts", "fills": "ts", "quotes": "ts",
                "depth": "ts", "trades": "ts"}


class IngestError(ValueError):
    """The drop cannot be ingested; the message names the date, the file(s) and the reason."""


@dataclass
class IngestSummary:
    date: date
    raw_dir: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "raw_dir": self.raw_dir, "tables": self.tables, "files": self.files}


def resolve_drop(raw: Path, day: date) -> Path:
    """``raw/YYYY-MM-DD`` if it exists, else ``raw`` itself when it directly holds data files."""
    day_dir = raw / day.isoformat()
    if day_dir.is_dir():
        return day_dir
    if raw.is_dir() and any(p.is_file() and not p.name.startswith(("_", ".")) for p in raw.iterdir()):
        return raw
    raise IngestError(f"no raw drop for {day.isoformat()}: {day_dir} does not exist")


def _files_of(frame: pl.DataFrame) -> list[str]:
    if SOURCE_FILE not in frame.columns:
        return []
    return sorted(str(f) for f in frame.get_column(SOURCE_FILE).drop_nulls().unique().to_list())


#: Tables whose accepted rows another table is checked against (a row quarantined here takes the rows
#: that depend on it along: a quarantined child's fills are quarantined too).
REFERENCED = ("venues", "parent_orders", "child_orders")


def _cross_failures(table: str, frame: pl.DataFrame, accepted: dict[str, pl.DataFrame], day: date,
                    settings: Settings) -> list[pl.DataFrame]:
    """Cross-table row failures of ``table``, checked against the rows already *accepted* from the
    tables it refers to (not the raw ones, so a rejected parent or child takes its dependants along)."""
    out = []
    col = DATE_COLUMNS.get(table)
    if col is not None and col in frame.columns:
        out.append(check_on_date(frame, col, day, settings.market.timezone))
    if table == "child_orders" and "parent_orders" in accepted:
        out.append(check_children_against_parents(frame, accepted["parent_orders"]))
    if table == "child_orders" and "venues" in accepted:
        out.append(check_children_venues(frame, accepted["venues"]))
    if table == "fills" and "child_orders" in accepted:
        out.append(check_fills_against_children(frame, accepted["child_orders"]))
    return out


_NEEDS = {"fills": "child_orders", "child_orders": "parent_orders"}


def _check_present(table: str, frame: pl.DataFrame, present: set[str], day_dir: Path) -> None:
    """A table with rows whose parent table the drop does not carry (fills without child orders)."""
    parent = _NEEDS.get(table)
    if parent is not None and frame.height and parent not in present:
        raise IngestError(f"{', '.join(_files_of(frame)) or day_dir}: {table} given without {parent}")


class _Source:
    """Where ingest_day takes its tables from: the whole drop read first, or a DropStream."""

    present: set[str]

    def take(self, table: str) -> pl.DataFrame | None:
        raise NotImplementedError

    def rejects(self) -> pl.DataFrame:
        raise NotImplementedError

    def finish(self) -> None:
        """Raise as read_drop does on a drop without rows (once everything was read)."""

    def files(self) -> list[dict[str, Any]]:
        raise NotImplementedError


class _EagerSource(_Source):
    def __init__(self, result: AdapterResult) -> None:
        self._tables = {t: f for t, f in result.tables.items() if t in INGEST_TABLES}
        result.tables = {}
        self.present = set(self._tables)
        self._result = result

    def take(self, table: str) -> pl.DataFrame | None:
        return self._tables.pop(table, None)

    def rejects(self) -> pl.DataFrame:
        return self._result.rejects

    def files(self) -> list[dict[str, Any]]:
        return list(self._result.files)


class _StreamSource(_Source):
    def __init__(self, stream: DropStream) -> None:
        self._stream = stream
        self.present = set(stream.tables()) & set(INGEST_TABLES)

    def take(self, table: str) -> pl.DataFrame | None:
        return self._stream.take(table) if table in self.present else None

    def rejects(self) -> pl.DataFrame:
        return self._stream.rejects()

    def finish(self) -> None:
        self._stream.check_not_empty()

    def files(self) -> list[dict[str, Any]]:
        return self._stream.files()


def _check_reject_share(split: Split, settings: Settings, day: date) -> None:
    if split.read == 0 or split.quarantined / split.read <= settings.ingest.max_reject_share:
        return
    q = split.quarantine
    files = sorted({str(f) for f in q.get_column("source_file").drop_nulls().to_list()})
    top = q.group_by("checks").len().sort("len", descending=True).row(0)
    raise IngestError(
        f"{day.isoformat()} {split.table}: {split.quarantined} of {split.read} rows rejected "
        f"(> {settings.ingest.max_reject_share:.0%}) in {', '.join(files) or '<unknown file>'}; "
        f"main reason: {top[0]} ({top[1]} rows). Nothing was written."
    )


def ingest_day(day: date, raw: Path, lake: Lake, settings: Settings) -> IngestSummary:
    """Ingest the drop for ``day`` under ``raw`` into ``lake``. Idempotent: re-running replaces the
    date's partitions with identical content."""
    from sor_pipeline.ingest.drop import read_drop, truth_path
    from sor_pipeline.ingest.nbbo import build_nbbo
    from sor_pipeline.ingest.stream import DropStream

    day_dir = resolve_drop(raw, day)
    if settings.ingest.streaming:
        source: _Source = _StreamSource(DropStream.open(day_dir, day))
    else:
        source = _EagerSource(read_drop(day_dir, day))

    # every table is validated and written aside before any becomes visible; each is let go of once
    # staged, and (streaming) a table's files are read only when it is its turn, so memory holds one
    # table and what the next tables check against (accepted parents, children, venues)
    summary = IngestSummary(date=day, raw_dir=str(day_dir))
    files: dict[str, list[str]] = {}
    staged: list[Staged] = []
    accepted: dict[str, pl.DataFrame] = {}
    heights: list[int] = []
    try:
        for table in INGEST_TABLES:
            frame = source.take(table)
            if frame is None:
                continue
            _check_present(table, frame, source.present, day_dir)
            heights.append(frame.height)
            files[table] = _files_of(frame)
            split = lake.prepare(table, frame, day, rejects=source.rejects(),
                                 extra_failures=_cross_failures(table, frame, accepted, day, settings))
            del frame
            _check_reject_share(split, settings, day)
            if table in REFERENCED:
                accepted[table] = split.good
            staged.append(lake.stage(split, day))
            if table == "quotes":
                staged.append(lake.stage(lake.prepare("nbbo", build_nbbo(split.good), day), day))
            del split
        source.finish()
        if not any(heights):
            raise IngestError(f"{day_dir}: the drop holds no rows")
        summary.files = source.files()
        truth = truth_path(day_dir)
        if truth.is_file():  # the simulator's grading truth, copied for graders only (never read to decide)
            graded = pl.read_parquet(truth).with_columns(pl.lit(str(truth)).alias(SOURCE_FILE))
            staged.append(lake.stage(lake.prepare(TRUTH_DATASET, graded, day), day))
            del graded
    except BaseException:
        for s in staged:
            lake.discard(s)
        raise
    for s in staged:
        res = lake.publish(s)
        summary.tables[s.table] = {**res.as_dict(), **({"files": files[s.table]} if s.table in files else {})}
    return summary
