"""Per-date run locks under ``$SOR_HOME/locks``: one ingest / nightly / backfill night per trading date.

``date_lock(settings, day, command)`` takes an exclusive ``fcntl.flock`` on
``$SOR_HOME/locks/date=YYYY-MM-DD.lock`` without waiting. A second command for the same ``SOR_HOME``
and date raises :class:`AlreadyRunning` ("... already running (pid N, since T)"), which the CLI turns
into exit code :data:`EXIT_ALREADY_RUNNING`. The kernel releases a flock when its holder dies (kill -9
included), so a killed run never blocks the next one; the file's text (holder pid, command, start time)
is only read to word the message. Locks are per date: a backfill takes each date's lock as it runs
that date, so different dates never wait for each other. Re-entrant inside one process (a nightly's
own ingest, a backfill's nights).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import IO

from sor_pipeline.config.settings import Settings

#: Exit status of a command refused because another run holds its date's lock (EX_TEMPFAIL: try later).
EXIT_ALREADY_RUNNING = 75
LOCK_DIR = "locks"

_HELD: dict[Path, tuple[IO[str], int]] = {}
_GUARD = threading.Lock()


class AlreadyRunning(RuntimeError):
    """Another process holds the run lock of this ``SOR_HOME`` and date."""

    def __init__(self, command: str, day: date, holder: str, path: Path) -> None:
        pid_since, _, held_by = holder.partition(";")
        as_what = f" as '{held_by.strip()}'" if held_by.strip() else ""
        super().__init__(f"{command} {day.isoformat()}: already running ({pid_since.strip()}){as_what}; "
                         f"lock {path}")
        self.day = day
        self.path = path


def lock_path(settings: Settings, day: date) -> Path:
    return settings.home / LOCK_DIR / f"date={day.isoformat()}.lock"


def _holder(path: Path) -> str:
    """The holder's line ``pid N, since T; command`` (``pid ?, since ?`` while it is being written)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "pid ?, since ?"


@contextmanager
def date_lock(settings: Settings, day: date, command: str) -> Iterator[Path]:
    """Hold the run lock of ``day`` for ``command`` (``ingest``, ``nightly``, ``backfill``), or raise
    :class:`AlreadyRunning` at once when another process holds it. Yields the lock file's path."""
    path = lock_path(settings, day)
    with _GUARD:
        if path in _HELD:  # this process already holds it (re-entrant)
            fh, n = _HELD[path]
            _HELD[path] = (fh, n + 1)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while the lock is held
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                raise AlreadyRunning(command, day, _holder(path), path) from None
            fh.seek(0)
            fh.truncate()
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            fh.write(f"pid {os.getpid()}, since {since}; {command}\n")
            fh.flush()
            _HELD[path] = (fh, 1)
    try:
        yield path
    finally:
        with _GUARD:
            fh, n = _HELD[path]
            if n > 1:
                _HELD[path] = (fh, n - 1)
            else:
                del _HELD[path]
                fh.close()  # closing the descriptor releases the flock
