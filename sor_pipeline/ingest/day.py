"""Ingest one trading date: raw drop -> adapters -> validation -> lake (with quarantine) -> nbbo.

All tables of the drop (and the NBBO derived from its quotes) are validated and written aside
(``Lake.stage``) one at a time, and published only once every one passes its contract, so a broken
drop leaves the lake exactly as it was. The execution tables (venues, parents, children, fills: about
1 M rows on a big day) are read and validated whole, since their checks look across tables; each is let
go of once staged. The big tables (quotes, depth, trades, the NBBO, the simulator's truth: tens of
millions of rows) stream: read (a Parquet tick file a slice at a time), validated and staged a chunk of
``Settings.ingest.chunk_rows`` rows at a time (:class:`ChunkedSplit`, :meth:`Lake.stage_stream`), the
quotes also spilled for the NBBO, which is built a batch of whole symbols at a time
(:class:`sor_pipeline.ingest.nbbo.QuoteSpill`). Their checks are row checks, so the partitions (and
quarantine) are byte for byte those of one chunk per table, whatever the chunk size. Rows that fail a
check are quarantined with the reason; if more than
``Settings.ingest.max_reject_share`` of a table's rows fail (a drop whose tables disagree: fills for unknown
child orders, quotes for another date), the ingest fails, naming the file(s) and the main reason, and
writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from sor_pipeline.ingest.base import EmptyDropError
from sor_pipeline.storage.lake import CATALOG, TRUTH_DATASET, Lake, Staged
from sor_pipeline.storage.validation import SOURCE_FILE, ChunkedSplit, Split, with_lineage

if TYPE_CHECKING:
    from sor_pipeline.ingest.drop import Drop

#: Canonical tables an ingest writes, in dependency order.
INGEST_TABLES = ["venues", "parent_orders", "child_orders", "fills", "quotes", "depth", "trades"]
#: The big tables (tens of millions of rows on a big day): read, validated and staged a chunk of
#: ``Settings.ingest.chunk_rows`` rows at a time. Their checks are row checks (no unique key, no
#: reference to another table), so chunking changes nothing in what is kept or quarantined.
STREAMED = ("quotes", "depth", "trades")
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
                    settings: Settings, reference: pl.DataFrame | None = None) -> list[pl.DataFrame]:
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
    if table == "child_orders" and reference is not None:
        from sor_pipeline.ingest.venue_ref import check_children_in_reference

        out.append(check_children_in_reference(frame, reference, day))
    if table == "fills" and "child_orders" in accepted:
        out.append(check_fills_against_children(frame, accepted["child_orders"]))
    return out


def _check_presence(tables: dict[str, pl.DataFrame], day_dir: Path, any_rows: bool) -> None:
    needs = {"fills": "child_orders", "child_orders": "parent_orders"}
    for table, parent in needs.items():
        if table in tables and tables[table].height and parent not in tables:
            raise IngestError(f"{', '.join(_files_of(tables[table])) or day_dir}: {table} given without {parent}")
    if not any_rows:
        raise IngestError(f"{day_dir}: the drop holds no rows")


def _check_reject_share(split: Split, settings: Settings, day: date) -> None:
    if split.read == 0 or split.quarantined / split.read <= settings.ingest.max_reject_share:
        return
    q = split.quarantine
    files = sorted({str(f) for f in q.get_column("source_file").drop_nulls().to_list()})
    top = (q.with_columns(pl.col("columns").fill_null("<line>")).group_by("columns", "checks").len()
           .sort("len", "columns", descending=[True, False]).row(0, named=True))
    first = q.filter((pl.col("columns").fill_null("<line>") == top["columns"]) & (pl.col("checks") == top["checks"])
                     ).sort("source_line", nulls_last=True).row(0, named=True)
    where = first["source_file"] + (f":{first['source_line']}" if first["source_line"] is not None else "")
    raise IngestError(
        f"{day.isoformat()} {split.table}: {split.quarantined} of {split.read} rows rejected "
        f"(> {settings.ingest.max_reject_share:.0%}) in {', '.join(files) or '<unknown file>'}; "
        f"main reason: column {top['columns']}: {top['checks']} ({top['len']} rows), first at {where}: "
        f"{first['reason']}; original: {str(first['row_json'])[:300].replace(chr(1), '|')}. Nothing was written."
    )


def ingest_day(day: date, raw: Path, lake: Lake, settings: Settings) -> IngestSummary:
    """Ingest the drop for ``day`` under ``raw`` into ``lake``. Idempotent: re-running replaces the
    date's partitions with identical content."""
    from sor_pipeline.ingest.drop import open_drop, truth_path
    from sor_pipeline.ingest.fix import FixTags
    from sor_pipeline.ingest.mapping import load_mapping
    from sor_pipeline.ingest.venue_fill import complete_fills
    from sor_pipeline.ingest.venue_ref import DEFAULT_PATH, day_venues, load_venue_reference

    day_dir = resolve_drop(raw, day)
    mapping = load_mapping(settings.ingest.mapping) if settings.ingest.mapping else None
    drop = open_drop(day_dir, day, mapping=mapping, fix_tags=FixTags.of(settings.ingest.fix_tags))
    # the execution tables whole (their checks look across tables); the tick tables' own files are read
    # when their table streams (LOBSTER pairs and other many-table files are read now)
    tables = {t: f for t, f in drop.read_all(but=STREAMED).items() if t in INGEST_TABLES}
    whole_rows = any(f.height for f in tables.values())
    if not whole_rows and not drop.any_rows(rejects=True):
        raise EmptyDropError(f"{day_dir}: raw drop holds no rows")
    rejects = drop.rejects()
    # a table the drop carries with no rows (a header-only file) still replaces the date's partition:
    # keeping the old one would mix two drops in one day
    streamed = [t for t in STREAMED if t in drop.tables()]
    _check_presence(tables, day_dir, whole_rows or drop.any_rows(STREAMED))
    reference = load_venue_reference(settings.ingest.venues)
    unknown = sorted(set(settings.router.static_waterfall) - set(reference.get_column("venue").to_list()))
    if unknown:  # the waterfall names codes of the reference, the one source of venue codes
        raise IngestError(f"setting router.static_waterfall names venue(s) {unknown} that the venue reference "
                          f"{settings.ingest.venues or DEFAULT_PATH} does not list")
    if "venues" not in tables and "child_orders" in tables:  # a drop copy ships no venues: the reference's
        tables["venues"] = day_venues(reference, day)
    if {"fills", "child_orders", "venues"} <= tables.keys():  # a drop copy without 851 / fees: the venue's
        tables["fills"] = complete_fills(tables["fills"], tables["child_orders"], tables["venues"])

    # every table is validated and written aside before any becomes visible; a whole table is let go of
    # once staged, a streamed one is read, validated and staged a chunk at a time
    summary = IngestSummary(date=day, raw_dir=str(day_dir))
    files = {t: _files_of(f) for t, f in tables.items()}
    staged: list[Staged] = []
    accepted: dict[str, pl.DataFrame] = {}
    chunk_rows = settings.ingest.chunk_rows
    try:
        for table in INGEST_TABLES:
            if table in streamed:
                accepted.clear()  # the tick tables refer to no other table: let the execution tables go
                staged.extend(_stage_streamed(table, drop, lake, day, settings, files))
                continue
            if table not in tables:
                continue
            frame = tables.pop(table)
            split = lake.prepare(table, frame, day, rejects=rejects,
                                 extra_failures=_cross_failures(table, frame, accepted, day, settings, reference))
            del frame
            _check_reject_share(split, settings, day)
            if table in REFERENCED:
                accepted[table] = split.good
            staged.append(lake.stage(split, day))
            del split
        truth = truth_path(day_dir)
        if truth.is_file():  # the simulator's grading truth, copied for graders only (never read to decide)
            staged.append(_stage_chunks(lake, TRUTH_DATASET, day, _truth_chunks(truth, chunk_rows)))
        summary.files = drop.files()
    except BaseException:
        for s in staged:
            lake.discard(s)
        raise
    for s in staged:
        res = lake.publish(s)
        summary.tables[s.table] = {**res.as_dict(), **({"files": files[s.table]} if s.table in files else {})}
    return summary


def _stage_chunks(lake: Lake, name: str, day: date, chunks: Iterator[pl.DataFrame],
                  check: Callable[[pl.DataFrame], list[pl.DataFrame]] | None = None,
                  each: Callable[[pl.DataFrame], None] | None = None,
                  rejects: Callable[[], pl.DataFrame | None] | None = None,
                  settings: Settings | None = None) -> Staged:
    """Validate and stage dataset ``name`` a chunk at a time (:class:`ChunkedSplit`, :meth:`Lake.stage_stream`):
    ``check(chunk)`` gives the chunk's cross-table row failures, ``each(good rows)`` sees the good rows
    as they pass, ``rejects()`` the parse rejects once every chunk is read; with ``settings`` the table's
    reject share is checked (:func:`_check_reject_share`) before its quarantine is staged."""
    model = CATALOG[name].schema
    assert model is not None
    validator = ChunkedSplit(model, name)

    def good() -> Iterator[pl.DataFrame]:
        for chunk in chunks:
            rows = validator.split(chunk, check(chunk) if check is not None else ())
            del chunk
            if each is not None:
                each(rows)
            yield rows

    def finish(_written: int) -> Split:
        split = validator.finish(rejects() if rejects is not None else None)
        if settings is not None:
            _check_reject_share(split, settings, day)
        return split

    return lake.stage_stream(name, day, good(), finish)


def _stage_streamed(table: str, drop: Drop, lake: Lake, day: date, settings: Settings,
                    files: dict[str, list[str]]) -> list[Staged]:
    """A tick table read, validated and staged a chunk at a time; for ``quotes`` the NBBO too, its
    inputs spilled as the quotes pass and built a batch of symbols at a time (:class:`QuoteSpill`)."""
    from sor_pipeline.ingest.nbbo import QuoteSpill

    seen: set[str] = set()

    def chunks() -> Iterator[pl.DataFrame]:
        for chunk in drop.chunks(table, settings.ingest.chunk_rows):
            seen.update(_files_of(chunk))
            yield chunk

    def check(chunk: pl.DataFrame) -> list[pl.DataFrame]:
        return _cross_failures(table, chunk, {}, day, settings)

    if table != "quotes":
        staged = [_stage_chunks(lake, table, day, chunks(), check, rejects=drop.rejects, settings=settings)]
    else:
        with lake.scratch("nbbo") as folder:
            spill = QuoteSpill(folder)
            staged = [_stage_chunks(lake, table, day, chunks(), check, each=spill.add, rejects=drop.rejects,
                                    settings=settings)]
            try:
                staged.append(_stage_chunks(lake, "nbbo", day, spill.nbbo(settings.ingest.chunk_rows)))
            except BaseException:
                lake.discard(staged[0])
                raise
    files[table] = sorted(seen)
    return staged


def _truth_chunks(path: Path, rows: int) -> Iterator[pl.DataFrame]:
    """The simulator's truth file a slice at a time, with the lineage a whole read would get."""
    total = pl.scan_parquet(path).select(pl.len()).collect().item()
    for off in range(0, total, max(1, rows)):
        yield with_lineage(pl.scan_parquet(path).slice(off, rows).collect()
                           .with_columns(pl.lit(str(path)).alias(SOURCE_FILE)), first_line=off + 1)
