"""Walk-forward fold models cached by (training window, data hash, training settings).

Consecutive nights' walk-forward backtests share most of their folds: tonight's fold for test day
``D-1`` trains on the same window as last night's fold for that day. A fold model depends only on
the rows it is trained on and the training configuration, so it is stored under a key made of

- the training window: first and last ``date`` and the number of days of the frame;
- the data hash: sha256 over the frame's columns (names, dtypes) and a per-row hash of every value
  (polars ``hash_rows``, seeded; the polars version is part of the key because that hash is only
  stable within a version), so a changed, added or dropped row on any day of the window changes it;
- the :class:`~sor_pipeline.learning.train.TrainConfig` and the xgboost version;

and a later call with the same key loads it (``RouterModel.save``/``load``: the same boosters, the
same predictions) instead of training. Entries beyond ``max_entries`` are dropped, oldest first.
Writes are atomic (a temporary folder renamed), so a crash never leaves half a model under a key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import xgboost as xgb

from sor_pipeline.learning.router_model import RouterModel
from sor_pipeline.learning.train import TrainConfig

log = logging.getLogger(__name__)

TrainFn = Callable[[pl.DataFrame], RouterModel]


def window_of(frame: pl.DataFrame) -> str:
    """``first..last/ndays`` of the frame's ``date`` column ("" without one)."""
    if "date" not in frame.columns or frame.height == 0:
        return ""
    days = frame["date"].unique().sort().cast(pl.Utf8).to_list()
    return f"{days[0]}..{days[-1]}/{len(days)}"


def data_hash(frame: pl.DataFrame) -> str:
    """Content hash of ``frame``: column names and dtypes, then every row's values (row order counts)."""
    h = hashlib.sha256()
    h.update(json.dumps([[c, str(t)] for c, t in frame.schema.items()]).encode())
    h.update(pl.__version__.encode())
    if frame.height:
        h.update(frame.hash_rows(seed=11).to_numpy().tobytes())
    return h.hexdigest()


@dataclass
class FoldCache:
    """Fold models on disk under ``root`` (``Settings.fold_cache_dir``); ``hits`` / ``misses`` count calls."""

    root: Path
    config: TrainConfig | None = None
    max_entries: int = 200
    hits: int = 0
    misses: int = 0

    def key(self, frame: pl.DataFrame) -> str:
        cfg = json.dumps(asdict(self.config or TrainConfig.from_settings()), sort_keys=True, default=str)
        ident = f"{window_of(frame)}|{data_hash(frame)}|{cfg}|xgboost {xgb.__version__}"
        return hashlib.sha256(ident.encode()).hexdigest()[:32]

    def wrap(self, train: TrainFn) -> TrainFn:
        """``train`` with its models cached by :meth:`key` of the frame it is given."""

        def cached(frame: pl.DataFrame) -> RouterModel:
            key = self.key(frame)
            path = self.root / key
            if (path / "feature_spec.json").is_file():
                try:
                    model = RouterModel.load(path)
                    self.hits += 1
                    os.utime(path)  # recently used: kept longest
                    return model
                except Exception as exc:  # an unreadable entry is retrained, never fatal
                    log.warning("fold cache: entry %s unreadable (%r); retraining", key, exc)
                    shutil.rmtree(path, ignore_errors=True)
            self.misses += 1
            model = train(frame)
            self._store(key, model)
            return model

        return cached

    def _store(self, key: str, model: RouterModel) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            model.save(tmp)
            os.replace(tmp, self.root / key)
        except OSError:  # another process stored the same key first: theirs is the same model
            shutil.rmtree(tmp, ignore_errors=True)
        self._prune()

    def _prune(self) -> None:
        entries = sorted((p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime)
        for p in entries[: max(0, len(entries) - self.max_entries)]:
            shutil.rmtree(p, ignore_errors=True)
