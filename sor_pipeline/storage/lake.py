"""The lake: the only module that knows storage paths.

Layout (docs/DESIGN.md, stable surface)::

    $SOR_HOME/lake/<dataset>/date=YYYY-MM-DD/part-00000.parquet
    $SOR_HOME/lake/quarantine/date=YYYY-MM-DD/<table>.parquet

Plain hive-partitioned Parquet: any engine reads it without this code. The partition column
``date`` lives in the path, never inside the files.

Writes are atomic per partition: the new partition is written (whole, or streamed a chunk at a time:
:meth:`Lake.stage_stream`) under ``.staging/``, the old one is
moved to ``.trash/``, the new one renamed into place, the old one deleted. A crash at any point
leaves either the old or the new partition complete; :meth:`Lake.recover` (run on every open) puts
back an old partition whose replacement never arrived and clears leftovers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl

from schemas import TABLE_SCHEMAS, columns_of
from sor_pipeline.config.faults import maybe_pause
from sor_pipeline.config.threads import duckdb_config
from sor_pipeline.storage.validation import Split, validate_split

#: The simulator's ground truth (true expected cost of every venue per child): graders read it; nothing
#: that trains, gates, promotes or demotes may.
TRUTH_DATASET = "sim_oracle"

PARTITION = "date"
PART_FILE = "part-00000.parquet"
_STAGING = ".staging"
_TRASH = ".trash"
_RECOVERY_LOCK = ".recovery.lock"
#: Staging and trash entries end in ``<host>@<pid>-<12 hex>``: the machine and process that wrote them
#: (entries written before the host was recorded end in ``<pid>-<12 hex>``). Recovery acts only on
#: entries of processes that are gone (or this process's own finished ones), never on a live writer's:
#: several processes, or Dask workers on several machines sharing the lake, write different dates at once.
_OWNER = re.compile(r"(?:([A-Za-z0-9_-]+)@)?(\d+)-[0-9a-f]{12}$")
#: This machine, as written in tokens.
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
#: An entry of another machine cannot be checked for a live writer from here: it counts as stale only
#: when untouched this long (a recovery on its own machine clears it at once).
FOREIGN_STALE_S = 24 * 3600.0
#: Tokens of this process's writes in flight (staged, not yet published or discarded).
_LIVE: set[str] = set()


def _new_token() -> str:
    token = f"{_HOST}@{os.getpid()}-{uuid.uuid4().hex[:12]}"
    _LIVE.add(token)
    return token


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(entry: Path) -> bool:
    """True when ``entry`` (a staging or trash entry) belongs to no write in flight."""
    m = _OWNER.search(entry.name)
    if m is None:
        return True  # written before entries carried their owner
    token, host, pid = m.group(0), m.group(1), int(m.group(2))
    if host is not None and host != _HOST:
        try:
            return time.time() - entry.stat().st_mtime > FOREIGN_STALE_S
        except OSError:
            return False
    return token not in _LIVE if pid == os.getpid() else not _pid_alive(pid)


def _rmdir_empty(*dirs: Path) -> None:
    """Remove each folder if it is empty (deepest first); a folder in use by another writer stays."""
    for d in dirs:
        with contextlib.suppress(OSError):
            d.rmdir()


def _makedirs(path: Path) -> None:
    """``mkdir -p`` that survives another writer removing an empty parent (``.staging/<name>``,
    ``.trash``) between two of its steps (:func:`_rmdir_empty` after that writer's own publish)."""
    for _ in range(50):
        try:
            path.mkdir(parents=True, exist_ok=True)
            return
        except FileNotFoundError:
            continue
    path.mkdir(parents=True, exist_ok=True)


def _move_into(src: Path, dst: Path) -> None:
    """``os.rename(src, dst)`` after creating ``dst``'s folder, again if another writer removed that
    (empty) folder in between."""
    for _ in range(50):
        _makedirs(dst.parent)
        try:
            os.rename(src, dst)
            return
        except FileNotFoundError:
            if not src.exists():
                raise
    os.rename(src, dst)


@dataclass(frozen=True)
class Dataset:
    """A named dataset: its layer (primary, features, tca, ...), its schema (None = free-form) and
    its row order inside a partition (``sort_by``; empty = as written)."""

    name: str
    layer: str
    schema: type[pa.DataFrameModel] | None
    description: str = ""
    sort_by: tuple[str, ...] = ()


CATALOG: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    CATALOG[dataset.name] = dataset
    return dataset


#: Row order of the partitions that every stage looks up by (symbol, time): ``nbbo``, which the NBBO
#: builder already emits in this order (so ingest writes it without a sort). The feature build's
#: as-of index then needs no sort, and Parquet row-group statistics on ``symbol`` let any engine skip
#: the other symbols. Stable: rows with equal keys keep their written order. (``depth`` is left in
#: feed order: sorting a 10 M-row, 23-column day at ingest costs more than the feature build saves.)
_BY_SYMBOL_TIME = ("symbol", "ts")
_SORTED = {"nbbo": _BY_SYMBOL_TIME}

for _name, _layer, _doc in [
    ("parent_orders", "primary", "Parent (institutional) orders."),
    ("child_orders", "primary", "Routing decisions, one per child order."),
    ("fills", "primary", "Execution reports with a fill."),
    ("venues", "primary", "Venue reference: type and fee schedule."),
    ("quotes", "primary", "Venue top of book."),
    ("nbbo", "primary", "National best bid and offer, derived from quotes."),
    ("depth", "primary", "Venue book, 5 levels."),
    ("trades", "primary", "Public prints."),
    ("quarantine", "quarantine", "Rejected rows with reasons."),
    ("features", "features", "Point-in-time features and forward labels per child order."),
    ("tca_child", "tca", "Transaction-cost analysis per child order."),
    ("tca_parent", "tca", "Transaction-cost analysis per parent order."),
    ("tca_agg", "tca", "TCA aggregates by venue, day, symbol, order type, size bucket, policy."),
    (TRUTH_DATASET, "simulation", "Simulator ground truth: true expected cost of every venue per child."),
]:
    register(Dataset(_name, _layer, TABLE_SCHEMAS[_name], _doc, _SORTED.get(_name, ())))


@dataclass(frozen=True)
class Staged:
    """A validated partition written under ``.staging/`` and not yet visible (see :meth:`Lake.stage`)."""

    table: str
    day: date
    read: int
    written: int
    quarantined: int
    data_dir: Path
    quarantine_file: Path | None


@dataclass(frozen=True)
class WriteResult:
    dataset: str
    date: date
    read: int
    written: int
    quarantined: int
    path: str

    def as_dict(self) -> dict[str, object]:
        return {"read": self.read, "written": self.written, "quarantined": self.quarantined, "path": self.path}


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def out_of_order(frame: pl.DataFrame, keys: Sequence[str]) -> bool:
    """True when some row of ``frame`` sorts before the row above it by ``keys`` (lexicographic)."""
    if frame.height < 2 or not keys:
        return False
    before = pl.lit(False)
    tied = pl.lit(True)
    for k in keys:
        cur, prev = pl.col(k), pl.col(k).shift(1)
        before = before | (tied & (cur < prev))
        tied = tied & (cur == prev)
    return bool(frame.select(before.fill_null(False).any()).item())


def sorted_for(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in the row order of dataset ``name`` (itself, uncopied, when already in order)."""
    ds = CATALOG.get(name)
    keys = [k for k in (ds.sort_by if ds else ()) if k in frame.columns]
    return frame.sort(keys, maintain_order=True) if out_of_order(frame, keys) else frame


#: Rows per row group of every partition file (a streamed partition is written with the same settings).
ROW_GROUP_ROWS = 1_000_000


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    _makedirs(path.parent)
    frame.write_parquet(path, compression="zstd", statistics=True, row_group_size=ROW_GROUP_ROWS)
    _fsync(path)


def _sink_parquet(frames: Iterable[pl.DataFrame], schema: pl.Schema, path: Path, keys: Sequence[str]) -> int:
    """Write ``frames`` (consecutive rows, each of ``schema``) to one Parquet file as they come; returns
    the rows written. Polars' streaming sink cuts row groups by row count, not by frame, so the file
    is byte for byte the one :func:`_write_parquet` writes of the frames concatenated (any chunking);
    memory holds about one row group. With ``keys``, the rows must come in that order (checked)."""
    from polars.io.plugins import register_io_source

    written = 0
    last: pl.DataFrame | None = None

    def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
               batch_size: int | None) -> Iterator[pl.DataFrame]:
        nonlocal written, last
        for frame in frames:
            if PARTITION in frame.columns:
                frame = frame.drop(PARTITION)
            if frame.schema != schema:
                raise ValueError(f"{path}: a streamed frame has columns {dict(frame.schema)}, expected {dict(schema)}")
            if keys and frame.height:
                edge = frame if last is None else pl.concat([last, frame.select(keys)], how="diagonal")
                if out_of_order(edge.select(keys), keys):
                    raise ValueError(f"{path}: streamed rows out of {tuple(keys)} order")
                last = frame.tail(1).select(keys)
            written += frame.height
            yield frame

    _makedirs(path.parent)
    register_io_source(source, schema=schema).sink_parquet(path, compression="zstd", statistics=True,
                                                           row_group_size=ROW_GROUP_ROWS)
    _fsync(path)
    return written


class Lake:
    """Hive-partitioned Parquet datasets under ``root``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.recover()

    # ----------------------------------------------------------------------------------------------
    # paths
    def dataset_dir(self, name: str) -> Path:
        return self.root / name

    def partition_dir(self, name: str, day: date) -> Path:
        return self.dataset_dir(name) / f"{PARTITION}={day.isoformat()}"

    def dates(self, name: str) -> list[date]:
        d = self.dataset_dir(name)
        if not d.is_dir():
            return []
        out = [date.fromisoformat(p.name.split("=", 1)[1]) for p in d.iterdir()
               if p.is_dir() and p.name.startswith(f"{PARTITION}=") and any(p.glob("*.parquet"))]
        return sorted(out)

    def exists(self, name: str, day: date) -> bool:
        return any(self.partition_dir(name, day).glob("*.parquet"))

    # ----------------------------------------------------------------------------------------------
    # crash recovery
    def recover(self) -> list[str]:
        """Restore partitions whose replacement never landed; delete staging and trash leftovers.
        Only entries of writers that are gone are touched (another process's write in flight is left
        alone), and two recoveries never run at once (an OS lock, released if its holder dies)."""
        with open(self.root / _RECOVERY_LOCK, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                return self._recover_stale()
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _recover_stale(self) -> list[str]:
        actions: list[str] = []
        trash = self.root / _TRASH
        for entry in sorted(trash.glob("*/*")) if trash.is_dir() else []:
            if not _stale(entry):
                continue
            dataset, stem = entry.parent.name, entry.name.split(".", 1)[0]
            target = self.dataset_dir(dataset) / stem
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(entry, target)
                actions.append(f"restored {dataset}/{stem}")
            else:
                shutil.rmtree(entry, ignore_errors=True)
                actions.append(f"removed old {dataset}/{stem}")
            _rmdir_empty(entry.parent)
        staging = self.root / _STAGING
        for entry in sorted(staging.glob("*/*")) if staging.is_dir() else []:
            if _stale(entry):
                shutil.rmtree(entry, ignore_errors=True)
                actions.append(f"cleared staging {entry.parent.name}/{entry.name}")
                _rmdir_empty(entry.parent)
        _rmdir_empty(trash, staging)
        return actions

    # ----------------------------------------------------------------------------------------------
    # writing
    def prepare(self, name: str, frame: pl.DataFrame, day: date,
                extra_failures: Sequence[pl.DataFrame] = (), rejects: pl.DataFrame | None = None) -> Split:
        """Validate ``frame`` for ``name`` without touching storage (raises ContractError)."""
        ds = CATALOG[name]
        if ds.schema is None:
            return Split(table=name, good=frame, quarantine=pl.DataFrame(), read=frame.height)
        return validate_split(frame, ds.schema, table=name, extra_failures=extra_failures, rejects=rejects)

    def commit(self, split: Split, day: date) -> WriteResult:
        """Write a prepared split: replace the data partition and that table's quarantine file."""
        return self.publish(self.stage(split, day))

    def write(self, name: str, frame: pl.DataFrame, day: date,
              extra_failures: Sequence[pl.DataFrame] = (), rejects: pl.DataFrame | None = None) -> WriteResult:
        """Validate, quarantine bad rows, and atomically replace partition ``day`` of ``name``."""
        return self.commit(self.prepare(name, frame, day, extra_failures, rejects), day)

    def stage(self, split: Split, day: date) -> Staged:
        """Write a prepared split aside under ``.staging/`` (nothing visible changes), so the caller can
        let go of its frames; :meth:`publish` makes it the partition, :meth:`discard` drops it."""
        token = _new_token()
        try:
            data = self._stage_frame(split.table, day, split.good, token)
            quarantine = None
            if CATALOG[split.table].schema is not None:
                quarantine = self.root / _STAGING / "quarantine" / token / f"{split.table}.parquet"
                _write_parquet(split.quarantine.select(list(columns_of(TABLE_SCHEMAS["quarantine"]))), quarantine)
        except BaseException:  # a half-written stage is no longer in flight: the next recovery clears it
            _LIVE.discard(token)
            raise
        return Staged(split.table, day, split.read, split.written, split.quarantined, data, quarantine)

    def stage_stream(self, name: str, day: date, frames: Iterable[pl.DataFrame],
                     finish: Callable[[int], Split]) -> Staged:
        """:meth:`stage` for a partition too big to hold: ``frames`` (its good rows, consecutive, in the
        dataset's row order) are written as they come, to the same bytes :meth:`stage` writes of them
        concatenated; then ``finish(rows written)`` gives the table's split (counts and quarantine rows,
        ``good`` unused), whose quarantine is staged. An error on the way (from ``frames`` or ``finish``
        too) leaves nothing staged."""
        ds = CATALOG[name]
        token = _new_token()
        stage = self._stage_dir(name, day, token)
        quarantine = None
        try:
            if ds.schema is None:
                raise ValueError(f"{name}: a dataset without a schema cannot be streamed")
            schema = pl.Schema({c: d for c, d in columns_of(ds.schema).items() if c != PARTITION})
            written = _sink_parquet(frames, schema, stage / PART_FILE, ds.sort_by)
            split = finish(written)
            quarantine = self.root / _STAGING / "quarantine" / token / f"{name}.parquet"
            _write_parquet(split.quarantine.select(list(columns_of(TABLE_SCHEMAS["quarantine"]))), quarantine)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            if quarantine is not None:
                shutil.rmtree(quarantine.parent, ignore_errors=True)
            _LIVE.discard(token)
            _rmdir_empty(stage.parent, self.root / _STAGING / "quarantine", self.root / _STAGING)
            raise
        return Staged(name, day, split.read, written, split.quarantined, stage, quarantine)

    @contextlib.contextmanager
    def scratch(self, name: str) -> Iterator[Path]:
        """A scratch folder for one write in flight (spilled rows), beside the staging area so a crash
        leaves it to :meth:`recover`; removed on exit."""
        token = _new_token()
        folder = self.root / _STAGING / "_scratch" / f"{name}.{token}"
        _makedirs(folder)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            _LIVE.discard(token)
            _rmdir_empty(folder.parent, self.root / _STAGING)

    def publish(self, staged: Staged) -> WriteResult:
        """Move a staged partition (and its quarantine file) into place: atomic per partition."""
        try:
            path = self._publish(staged.table, staged.day, staged.data_dir)
            if staged.quarantine_file is not None:
                target = self.partition_dir("quarantine", staged.day) / f"{staged.table}.parquet"
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged.quarantine_file, target)
        finally:  # a write that failed half-way is no longer in flight: the next recovery finishes it
            self._done(staged)
        return WriteResult(staged.table, staged.day, staged.read, staged.written, staged.quarantined, str(path))

    def discard(self, staged: Staged) -> None:
        """Drop a staged partition that will not be published."""
        shutil.rmtree(staged.data_dir, ignore_errors=True)
        self._done(staged)

    def _done(self, staged: Staged) -> None:
        """Forget a finished write: its token, its quarantine staging folder, empty folders left."""
        if staged.quarantine_file is not None:
            shutil.rmtree(staged.quarantine_file.parent, ignore_errors=True)
            _rmdir_empty(staged.quarantine_file.parent.parent)
        m = _OWNER.search(staged.data_dir.name)
        _LIVE.discard(m.group(0) if m else "")
        _rmdir_empty(staged.data_dir.parent, self.root / _STAGING, self.root / _TRASH)

    def replace_partition(self, name: str, day: date, frame: pl.DataFrame) -> Path:
        """Atomically replace one partition with ``frame`` (the ``date`` column is dropped), rows in
        the dataset's ``sort_by`` order."""
        token = _new_token()
        try:
            return self._publish(name, day, self._stage_frame(name, day, frame, token))
        finally:
            _LIVE.discard(token)
            _rmdir_empty(self.root / _STAGING / name, self.root / _STAGING, self.root / _TRASH)

    def _stage_dir(self, name: str, day: date, token: str) -> Path:
        return self.root / _STAGING / name / f"{self.partition_dir(name, day).name}.{token}"

    def _stage_frame(self, name: str, day: date, frame: pl.DataFrame, token: str) -> Path:
        if PARTITION in frame.columns:
            frame = frame.drop(PARTITION)
        stage = self._stage_dir(name, day, token)
        _write_parquet(sorted_for(name, frame), stage / PART_FILE)
        return stage

    def _publish(self, name: str, day: date, stage: Path) -> Path:
        """Staged partition -> live: old partition to trash, new one renamed in, trash deleted (a crash
        in between is undone by :meth:`recover`)."""
        target = self.partition_dir(name, day)
        old = self.root / _TRASH / name / stage.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            _move_into(target, old)
        maybe_pause("lake-publish")  # drills: the old partition is in trash, the new one not yet in place
        os.rename(stage, target)
        _fsync_dir(target.parent)
        if old.exists():
            shutil.rmtree(old)
            _rmdir_empty(old.parent)
        return target

    def delete_partition(self, name: str, day: date) -> None:
        target = self.partition_dir(name, day)
        if target.exists():
            shutil.rmtree(target)

    # ----------------------------------------------------------------------------------------------
    # reading
    def files(self, name: str, days: Iterable[date] | None = None) -> list[Path]:
        wanted = self.dates(name) if days is None else sorted(set(days))
        out: list[Path] = []
        for d in wanted:
            out.extend(sorted(self.partition_dir(name, d).glob("*.parquet")))
        return out

    def read(self, name: str, days: Iterable[date] | None = None, *,
             start: date | None = None, end: date | None = None) -> pl.LazyFrame:
        """LazyFrame over the chosen partitions (all, a list, or ``start..end`` inclusive), with ``date``."""
        chosen = self.dates(name) if days is None else sorted(set(days))
        if start is not None:
            chosen = [d for d in chosen if d >= start]
        if end is not None:
            chosen = [d for d in chosen if d <= end]
        files = self.files(name, [d for d in chosen if self.exists(name, d)])
        ds = CATALOG.get(name)
        if not files:
            schema: dict[str, pl.DataType | type[pl.DataType]] = dict(columns_of(ds.schema)) if ds and ds.schema else {}
            schema.pop(PARTITION, None)
            schema[PARTITION] = pl.Date
            return pl.DataFrame(schema=schema).lazy()
        return pl.scan_parquet(
            [str(f) for f in files], hive_partitioning=True, hive_schema={PARTITION: pl.Date}
        )

    def read_day(self, name: str, day: date) -> pl.DataFrame:
        return self.read(name, [day]).collect()

    def partition_hash(self, name: str, day: date) -> str:
        """sha256 over the partition's files (names and bytes): names the data in reports and runs."""
        h = hashlib.sha256()
        for f in self.files(name, [day]):
            h.update(f.name.encode())
            h.update(f.read_bytes())
        return h.hexdigest()

    def duckdb(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per non-empty dataset over the same files."""
        con = con or duckdb.connect(config=duckdb_config())
        for name in sorted(CATALOG):
            if self.dates(name):
                glob = str(self.dataset_dir(name) / f"{PARTITION}=*" / "*.parquet")
                con.read_parquet(glob, hive_partitioning=True).create_view(name, replace=True)
        return con
