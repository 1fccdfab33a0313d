"""Walk-forward fold models cached by what they were fitted on, so consecutive nights reuse them.

A night's backtest fits, per test day, the challenger's fold model (the days before the test day) and
the cross-fitted reward models (those days plus part of the test day). The night after, four of those
five test days come back with the same training rows: the same models. The cache keys a model by a
digest of its training frame's content (every row and column, order-free), the booster settings and
the source of the code that fits and scores it, so any changed day, setting or fitting code retrains
(``tests/unit/test_fold_cache.py``). Entries are plain :meth:`RouterModel.save` folders, written to a
temporary name and renamed into place (a killed night leaves no half entry); the oldest are pruned.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import xgboost as xgb

from sor_pipeline.learning.router_model import SPEC_FILE, RouterModel

#: Source files whose code decides what a fitted fold model is.
_FIT_SOURCES = ("train.py", "shifts.py", "router_model.py", "costs.py")


@cache
def _code_digest() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _FIT_SOURCES:
        h.update((here / name).read_bytes())
    return h.hexdigest()


def frame_digest(frame: pl.DataFrame) -> str:
    """Content digest of a training frame: schema plus the sorted row hashes (row order does not matter)."""
    h = hashlib.sha256(repr(sorted(frame.schema.items(), key=lambda kv: kv[0])).encode())
    cols = sorted(frame.columns)
    rows = np.sort(frame.select(cols).hash_rows(seed=0).to_numpy())
    h.update(rows.tobytes())
    h.update(str(frame.height).encode())
    return h.hexdigest()


class FoldCache:
    """Models under ``root``, keyed by :func:`frame_digest` of the training frame and ``salt`` (the
    booster settings). At most ``max_entries`` are kept (least recently used first out)."""

    def __init__(self, root: Path, salt: str, max_entries: int = 400) -> None:
        self.root = Path(root)
        self.salt = f"{salt}|{_code_digest()}|xgb {xgb.__version__}|pl {pl.__version__}"
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def key(self, frame: pl.DataFrame) -> str:
        return hashlib.sha256(f"{self.salt}|{frame_digest(frame)}".encode()).hexdigest()[:32]

    def fit(self, frame: pl.DataFrame, train_fn: Callable[[pl.DataFrame], RouterModel]) -> RouterModel:
        """The cached model of ``frame`` if there is one, else ``train_fn(frame)``, stored."""
        path = self.root / self.key(frame)
        if (path / SPEC_FILE).is_file():
            try:
                model = RouterModel.load(path)
                os.utime(path)
                self.hits += 1
                return model
            except Exception:  # a damaged entry is refitted and replaced
                shutil.rmtree(path, ignore_errors=True)
        self.misses += 1
        model = train_fn(frame)
        tmp = self.root / f".tmp-{path.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save(tmp)
        try:
            os.replace(tmp, path)
        except OSError:  # another process stored the same key first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        self._prune()
        return model

    def _prune(self) -> None:
        entries = [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(entries) <= self.max_entries:
            return
        entries.sort(key=lambda p: p.stat().st_mtime)
        for p in entries[: len(entries) - self.max_entries]:
            shutil.rmtree(p, ignore_errors=True)
