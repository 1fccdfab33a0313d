"""Per-venue XGBoost training: a slippage regressor and a fill-probability classifier per venue.

Input is a features frame (schemas.features.Features: one row per child order, MODEL_FEATURES and
LABEL_COLUMNS). Per venue, rows are ordered by ``sent_ts``; the last ``valid_frac`` of them is the
time-ordered validation slice used for early stopping and for the reported metrics.

- fill classifier: target ``filled`` (0/1), ``binary:logistic``, all rows of the venue;
- slippage regressor: target ``arrival_slippage_bps`` (bps, + = cost, fees included), filled rows only,
  ``reg:pseudohubererror`` (robust to the fat tails of slippage).

Monotone constraints: slippage non-decreasing in ``rel_size_adv`` and ``spread_bps``; fill probability
non-increasing in ``rel_size_adv`` and ``size_vs_top3``. Booster size is capped (trees, depth) so
the live router can score in microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from schemas.features import MODEL_FEATURES
from sor_pipeline.config.settings import Settings, get_settings
from sor_pipeline.learning.metrics import auc, brier, mae, rmse
from sor_pipeline.learning.router_model import RouterModel, VenueModel
from sor_pipeline.learning.shifts import Shift, find_shift

# Monotone constraints where the direction is plainly right. The venue's own trailing statistics are
# included: a venue with higher past slippage (or more adverse markouts) is never predicted cheaper,
# and one with a higher past fill rate never less likely to fill. Without them a regime shift (a
# pool turning toxic) pushes the trailing stats out of the training range and the trees
# extrapolate arbitrarily (measured: -10 bps bias on the toxic pool).
SLIPPAGE_MONOTONE = {"rel_size_adv": 1, "spread_bps": 1, "venue_slippage_bps_20d": 1,
                     "venue_markout_5s_bps_20d": -1, "venue_markout_60s_bps_20d": -1}
FILL_MONOTONE = {"rel_size_adv": -1, "size_vs_top3": -1, "venue_fill_rate_20d": 1}
MIN_ROWS = 30  # fewer rows (or one class only) -> a constant instead of a booster


@dataclass(frozen=True)
class TrainConfig:
    """Booster hyper-parameters. ``n_estimators`` is the cap; early stopping picks fewer."""

    n_estimators: int = 150
    max_depth: int = 4
    learning_rate: float = 0.3
    min_child_weight: float = 5.0
    subsample: float = 0.9
    # Pseudo-Huber slope, bps. None = data-driven: 3 standard deviations of the training target, at
    # least 2 bps, so only true outliers are down-weighted. A small slope (~1-2 bps, or one based on
    # the MAD) fits something close to the median and under-prices adverse selection, whose costs sit
    # in the tail or in a newly toxic regime (measured: -10 bps bias on a pool that turned toxic);
    # routing needs the mean cost.
    huber_slope_bps: float | None = None
    # Sample weights halve every this many trading days back from the newest training day, so a
    # regime shift (a pool turning toxic) is learned within a few nights. None = equal weights.
    recency_half_life_days: float | None = 3.0
    # Change-point per venue (:func:`sor_pipeline.learning.shifts.find_shift`): when a venue's daily
    # outcomes turned costlier by at least this z in the last days, its rows before the new regime weigh
    # ``pre_shift_weight`` (its window is shortened; other venues keep theirs). None = off.
    shift_z: float | None = 6.0
    pre_shift_weight: float = 0.05
    valid_frac: float = 0.2
    early_stopping_rounds: int = 20
    # 1 by default: on 2 shared cores OpenMP's busy-waiting made nthread=2 ~10x slower than 1
    # (0.27 s vs 3.4 s for 100 trees on 5k rows, measured under load). Never above 2 here.
    nthread: int = 1
    seed: int = 7
    # Stratified sampling: at most this many decisions per (date, venue) train a model; the kept rows
    # of a larger stratum carry weight stratum size / kept, so every day and venue counts as much as
    # before and training cost is bounded by window x venues x cap. None = every row (weight 1).
    sample_cap_per_day_venue: int | None = None
    # Scheduler address of a Dask cluster: every booster trains there through ``xgboost.dask`` (its rows
    # split over the workers; the distributed quantile sketch makes other split candidates, so models
    # equal a local fit only to a tolerance). None = in this process. Not in the repr (the fold cache's
    # salt): :meth:`cache_salt` says whether training was distributed, not where.
    dask_address: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TrainConfig:
        """Defaults, with the sampling cap of ``Settings.train`` (the process settings by default), and
        the Dask cluster's address when ``train.xgboost_dask`` is on."""
        s = settings or get_settings()
        return cls(sample_cap_per_day_venue=s.train.sample_cap_per_day_venue,
                   dask_address=s.orchestration.dask_address if s.train.xgboost_dask else None)

    def cache_salt(self) -> str:
        """What makes a fitted model differ: the hyper-parameters, and whether xgboost.dask trained it."""
        return repr(self) + ("|xgboost.dask" if self.dask_address else "")

    def params(self) -> dict[str, Any]:
        return {"tree_method": "hist", "device": "cpu", "nthread": self.nthread, "max_depth": self.max_depth,
                "eta": self.learning_rate, "min_child_weight": self.min_child_weight,
                "subsample": self.subsample, "seed": self.seed}


@dataclass
class VenueReport:
    """What training one venue produced: sizes, stopping points, validation metrics, importances,
    and the validation predictions (for calibration / residual plots)."""

    venue: str
    venue_type: str
    n_train: int
    n_valid: int
    n_train_filled: int
    fill_trees: int
    slippage_trees: int
    metrics: dict[str, float]
    importance: dict[str, dict[str, float]]
    valid: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0


def monotone_tuple(spec: dict[str, int], columns: list[str]) -> str:
    """XGBoost ``monotone_constraints`` string in column order, e.g. ``(0,1,0,...)``."""
    return "(" + ",".join(str(spec.get(c, 0)) for c in columns) + ")"


def time_split(frame: pl.DataFrame, valid_frac: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train / validation split by ``sent_ts`` order: the last ``valid_frac`` of rows is validation."""
    frame = frame.sort("sent_ts")
    n_valid = round(frame.height * valid_frac)
    if frame.height - n_valid < 2 or n_valid < 1:
        return frame, frame.clear()
    return frame.head(frame.height - n_valid), frame.tail(n_valid)


def recency_weights(frame: pl.DataFrame, half_life_days: float | None) -> np.ndarray | None:
    """0.5 ** (trading-day age / half life), newest day = 1; None without a ``date`` column or half life."""
    if half_life_days is None or "date" not in frame.columns or frame.height == 0:
        return None
    rank = frame.select(pl.col("date").rank("dense", descending=True).cast(pl.Float64) - 1.0).to_series()
    return np.power(0.5, rank.to_numpy() / half_life_days)


#: Column carrying the stratified-sampling weight of a row (see :func:`stratified_sample`).
SAMPLE_WEIGHT = "_sample_weight"


def stratified_sample(frame: pl.DataFrame, cap: int | None, seed: int = 7) -> pl.DataFrame:
    """At most ``cap`` rows per (``date``, ``venue``), drawn uniformly (seeded, so reproducible), with
    :data:`SAMPLE_WEIGHT` = stratum rows / kept rows (times the weight a row already carried, e.g. from
    :func:`sample_parents`); the frame unchanged when ``cap`` is None, or it has no ``date`` column, or
    no stratum exceeds the cap. Row order is kept. Sampling a sampled frame again changes nothing."""
    if cap is None or "date" not in frame.columns or frame.height == 0:
        return frame
    keys = ["date", "venue"]
    n = pl.len().over(keys)
    if frame.select(n.max()).item() <= cap:
        return frame
    pos = pl.int_range(pl.len(), dtype=pl.UInt32).shuffle(seed=seed).over(keys)
    weight = n.cast(pl.Float64) / pl.min_horizontal(n, pl.lit(cap)).cast(pl.Float64)
    if SAMPLE_WEIGHT in frame.columns:
        weight = weight * pl.col(SAMPLE_WEIGHT).cast(pl.Float64)
    return (frame.with_columns(weight.alias(SAMPLE_WEIGHT), pos.alias("__pos"))
            .filter(pl.col("__pos") < cap).drop("__pos"))


def sample_parents(frame: pl.DataFrame, max_decisions: int | None, seed: int = 7) -> pl.DataFrame:
    """One day's rows with at most about ``max_decisions`` decisions (``route_rank == 1`` rows): a seeded
    uniform sample of its parent orders, every row of each kept parent, with :data:`SAMPLE_WEIGHT`
    multiplied by the inverse of the kept share of parents. A uniform sample of clusters keeps every
    per-decision mean unbiased and the parent clusters whole (the gate's unit). Unchanged at or under
    the bound, or when ``max_decisions`` is None."""
    if max_decisions is None or frame.height == 0:
        return frame
    n_dec = frame.filter(pl.col("route_rank") == 1).height
    if n_dec <= max_decisions:
        return frame
    parents = frame.select(pl.col("parent_id").unique().sort())
    keep_n = max(1, int(parents.height * max_decisions / n_dec))
    kept = parents.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).shuffle(seed=seed).alias("__pos")) \
        .filter(pl.col("__pos") < keep_n).select("parent_id")
    weight = pl.lit(parents.height / keep_n, pl.Float64)
    if SAMPLE_WEIGHT in frame.columns:
        weight = weight * pl.col(SAMPLE_WEIGHT).cast(pl.Float64)
    return frame.filter(pl.col("parent_id").is_in(kept["parent_id"].implode())).with_columns(
        weight.alias(SAMPLE_WEIGHT))


#: Column carrying a row's regime weight: ``pre_shift_weight`` before a venue's change-point, else 1.
REGIME_WEIGHT = "_regime_weight"


def row_weights(frame: pl.DataFrame, half_life_days: float | None) -> np.ndarray | None:
    """Training weights: recency (:func:`recency_weights`) times the sampling and regime weights
    (:func:`_sample_w`); None if none applies."""
    w = recency_weights(frame, half_life_days)
    sw = _sample_w(frame)
    if sw is None:
        return w
    return sw if w is None else w * sw


def robust_slope_bps(y: np.ndarray, floor: float = 2.0) -> float:
    """Pseudo-Huber slope: 3 standard deviations of ``y``, at least ``floor`` bps."""
    return max(floor, 3.0 * float(np.std(y))) if len(y) else floor


Rows = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # features, target, weights (None = 1)


def _fit(params: dict[str, Any], x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray,
         config: TrainConfig, w_tr: np.ndarray | None = None,
         s_va: np.ndarray | None = None) -> tuple[xgb.Booster, xgb.Booster | None]:
    """(the model to ship: refit on train + validation with the early-stopped number of trees, the
    early-stopped model fitted on train only, which never saw the validation rows; None without them)."""
    boost = _boost_local if config.dask_address is None else _boost_dask
    if len(y_va) == 0:
        return boost(params, (x_tr, y_tr, w_tr), config.n_estimators, None, config), None
    # validation rows: weighted by their sampling weight ``s_va`` only (early stopping judges the
    # newest rows as the population they stand for)
    booster = boost(params, (x_tr, y_tr, w_tr), config.n_estimators, (x_va, y_va, s_va), config)
    best = getattr(booster, "best_iteration", None)
    rounds = booster.num_boosted_rounds() if best is None else best + 1
    # Early stopping picked the number of trees on the newest slice; now refit on train + validation
    # so the newest day (often the one that shows a regime shift) is in the model.
    w_va = (np.ones(len(y_va)) if s_va is None else s_va) * (1.0 if w_tr is None else float(np.max(w_tr)))
    w_all = None if w_tr is None and s_va is None else np.concatenate(
        [np.ones(len(y_tr)) if w_tr is None else w_tr, w_va])
    everything = (np.vstack([x_tr, x_va]), np.concatenate([y_tr, y_va]), w_all)
    return boost(params, everything, max(1, rounds), None, config), booster[: max(1, rounds)]


def _boost_local(params: dict[str, Any], rows: Rows, rounds: int, valid: Rows | None,
                 config: TrainConfig) -> xgb.Booster:
    """``rounds`` trees on ``rows`` in this process; early-stopped on ``valid`` when given."""
    x, y, w = rows
    dtrain = xgb.DMatrix(x, label=y, weight=w, feature_names=list(MODEL_FEATURES), nthread=config.nthread)
    if valid is None:
        return xgb.train(params, dtrain, num_boost_round=rounds)
    dvalid = xgb.DMatrix(valid[0], label=valid[1], weight=valid[2], feature_names=list(MODEL_FEATURES),
                         nthread=config.nthread)
    return xgb.train(params, dtrain, num_boost_round=rounds, evals=[(dvalid, "valid")],
                     early_stopping_rounds=config.early_stopping_rounds, verbose_eval=False)


_DASK_CLIENTS: dict[str, Any] = {}


def _dask_client(address: str) -> Any:
    from distributed import Client

    client = _DASK_CLIENTS.get(address)
    if client is None or client.status != "running":
        client = _DASK_CLIENTS[address] = Client(address, set_as_default=False)
    return client


def _boost_dask(params: dict[str, Any], rows: Rows, rounds: int, valid: Rows | None,
                config: TrainConfig) -> xgb.Booster:
    """:func:`_boost_local` through ``xgboost.dask`` on the cluster at ``config.dask_address``: the rows
    split into one block per worker, one booster trained over all of them (rabit allreduce)."""
    import dask.array as da
    from xgboost import dask as dxgb

    assert config.dask_address is not None
    client = _dask_client(config.dask_address)
    parts = max(1, len(client.scheduler_info()["workers"]))

    def matrix(r: Rows) -> Any:
        x, y, w = r
        block = max(1, -(-len(y) // parts))
        return dxgb.DaskDMatrix(client, da.from_array(x, chunks=(block, x.shape[1])), da.from_array(y, chunks=block),
                                weight=None if w is None else da.from_array(w, chunks=block),
                                feature_names=list(MODEL_FEATURES))

    with client.as_current():  # xgboost.dask looks the client up as the current one even when given it
        dtrain = matrix(rows)
        if valid is None:
            out = dxgb.train(client, params, dtrain, num_boost_round=rounds, verbose_eval=False)
        else:
            out = dxgb.train(client, params, dtrain, num_boost_round=rounds, evals=[(matrix(valid), "valid")],
                             early_stopping_rounds=config.early_stopping_rounds, verbose_eval=False)
    booster: xgb.Booster = out["booster"]
    return booster


def _matrix(frame: pl.DataFrame) -> np.ndarray:
    return frame.select([pl.col(c).cast(pl.Float64) for c in MODEL_FEATURES]).to_numpy()


def _gain(booster: xgb.Booster | None) -> dict[str, float]:
    if booster is None:
        return {}
    return {k: float(np.mean(v)) for k, v in booster.get_score(importance_type="gain").items()}


def _sample_w(frame: pl.DataFrame) -> np.ndarray | None:
    """The sampling weight times the regime weight of each row; None without either column."""
    cols = [c for c in (SAMPLE_WEIGHT, REGIME_WEIGHT) if c in frame.columns]
    if not cols:
        return None
    return np.prod([frame[c].cast(pl.Float64).to_numpy() for c in cols], axis=0)


def mark_regime(frame: pl.DataFrame, config: TrainConfig) -> tuple[pl.DataFrame, Shift | None]:
    """One venue's rows with :data:`REGIME_WEIGHT` when its outcomes shifted recently (see
    :mod:`sor_pipeline.learning.shifts`), and the shift found. None found: the frame unchanged, except
    that a :data:`REGIME_WEIGHT` the caller marked (:func:`mark_shift`) is kept, 1 where it is null."""
    shift = find_shift(frame, z_min=config.shift_z) if config.shift_z is not None else None
    if shift is None:
        if REGIME_WEIGHT in frame.columns:
            return frame.with_columns(pl.col(REGIME_WEIGHT).cast(pl.Float64).fill_null(1.0)), None
        return frame, None
    weight = pl.when(pl.col("date") < shift.start).then(config.pre_shift_weight).otherwise(1.0)
    return frame.with_columns(weight.cast(pl.Float64).alias(REGIME_WEIGHT)), shift


def mark_shift(frame: pl.DataFrame, venue: str, start: date, pre_shift_weight: float) -> pl.DataFrame:
    """``frame`` with :data:`REGIME_WEIGHT` = ``pre_shift_weight`` on ``venue``'s rows before ``start``
    (1 elsewhere): a shift found by the caller on more of the venue's days than one venue's training
    rows may hold, kept by :func:`mark_regime` when it finds none itself."""
    before = (pl.col("venue") == venue) & (pl.col("date") < start)
    return frame.with_columns(pl.when(before).then(pre_shift_weight).otherwise(1.0).cast(pl.Float64)
                              .alias(REGIME_WEIGHT))


def train_venue(frame: pl.DataFrame, venue: str, venue_type: str,
                config: TrainConfig) -> tuple[VenueModel, VenueReport]:
    """Train one venue's fill classifier and slippage regressor on its rows of a features frame."""
    t0 = time.perf_counter()
    frame, shift = mark_regime(frame, config)
    train, valid = time_split(frame, config.valid_frac)
    base = config.params()
    # Fill model on all rows. Its target is the filled share of the routed quantity (fill_ratio), a
    # probability-like number in [0, 1]: the expected-cost formula needs E[filled share], and a
    # partial fill (an ECN taking only its displayed size) must not count as a full fill.
    y_tr = train["fill_ratio"].cast(pl.Float64).to_numpy()
    y_va = valid["fill_ratio"].cast(pl.Float64).to_numpy()
    filled_va = valid["filled"].cast(pl.Float64).to_numpy()
    fill: xgb.Booster | None = None
    fill_holdout: xgb.Booster | None = None
    fill_const: float | None = None
    if len(y_tr) < MIN_ROWS or y_tr.min() == y_tr.max():
        fill_const = float(np.clip(np.mean(np.concatenate([y_tr, y_va])), 1e-3, 1 - 1e-3))
    else:
        params = {**base, "objective": "reg:logistic", "eval_metric": "logloss",
                  "monotone_constraints": monotone_tuple(FILL_MONOTONE, MODEL_FEATURES)}
        fill, fill_holdout = _fit(params, _matrix(train), y_tr, _matrix(valid), y_va, config,
                                  row_weights(train, config.recency_half_life_days), _sample_w(valid))
    # slippage regressor on filled rows
    f_tr = train.filter((pl.col("filled") == 1) & pl.col("arrival_slippage_bps").is_not_null())
    f_va = valid.filter((pl.col("filled") == 1) & pl.col("arrival_slippage_bps").is_not_null())
    s_tr = f_tr["arrival_slippage_bps"].cast(pl.Float64).to_numpy()
    s_va = f_va["arrival_slippage_bps"].cast(pl.Float64).to_numpy()
    slip: xgb.Booster | None = None
    slip_holdout: xgb.Booster | None = None
    slip_const: float | None = None
    if len(s_tr) < MIN_ROWS:
        both = np.concatenate([s_tr, s_va])
        slip_const = float(np.mean(both)) if len(both) else 0.0
    else:
        slope = config.huber_slope_bps if config.huber_slope_bps is not None else robust_slope_bps(s_tr)
        # start from the current regime's level: after a shift, the few trees early stopping keeps
        # must not have to travel from the old level
        start = float(np.mean(s_tr))
        if shift is not None:
            post = pl.concat([f_tr, f_va]).filter(pl.col("date") >= shift.start)["arrival_slippage_bps"]
            start = float(post.cast(pl.Float64).mean()) if post.len() else start  # type: ignore[arg-type]
        params = {**base, "objective": "reg:pseudohubererror", "huber_slope": slope,
                  "eval_metric": "mae", "base_score": start,
                  "monotone_constraints": monotone_tuple(SLIPPAGE_MONOTONE, MODEL_FEATURES)}
        slip, slip_holdout = _fit(params, _matrix(f_tr), s_tr, _matrix(f_va), s_va, config,
                                  row_weights(f_tr, config.recency_half_life_days), _sample_w(f_va))
    model = VenueModel(venue=venue, venue_type=venue_type, fill=fill, slippage=slip,
                       fill_const=fill_const, slippage_const_bps=slip_const)
    # Validation metrics, out of sample: from the early-stopped models fitted on the training rows only
    # (the shipped model was refit on train + validation, so its scores there would be in-sample).
    holdout = VenueModel(venue=venue, venue_type=venue_type, fill=fill_holdout if fill is not None else None,
                         slippage=slip_holdout if slip is not None else None, fill_const=fill_const,
                         slippage_const_bps=slip_const)
    metrics: dict[str, float] = {}
    if shift is not None:
        metrics.update(shift_z=shift.z, shift_change=shift.change, shift_post_days=float(shift.post_days),
                       shift_on_fill_ratio=float(shift.outcome == "fill_ratio"))
    valid_out: dict[str, np.ndarray] = {}
    if valid.height:
        p = holdout.predict_p_fill(_matrix(valid))
        metrics.update(fill_auc=auc(filled_va, p), fill_brier=brier(y_va, p), fill_rate_valid=float(y_va.mean()))
        valid_out.update(p_fill=p, filled=y_va)
    if f_va.height:
        s = holdout.predict_slippage(_matrix(f_va))
        metrics.update(slippage_mae_bps=mae(s_va, s), slippage_rmse_bps=rmse(s_va, s))
        valid_out.update(slippage_pred_bps=s, slippage_bps=s_va)
    report = VenueReport(
        venue=venue, venue_type=venue_type, n_train=train.height, n_valid=valid.height,
        n_train_filled=f_tr.height,
        fill_trees=fill.num_boosted_rounds() if fill is not None else 0,
        slippage_trees=slip.num_boosted_rounds() if slip is not None else 0,
        metrics=metrics, importance={"fill": _gain(fill), "slippage": _gain(slip)}, valid=valid_out,
        seconds=time.perf_counter() - t0,
    )
    return model, report


def venue_type_map(frame: pl.DataFrame) -> dict[str, str]:
    """venue -> venue_type (most frequent non-null type seen; "UNKNOWN" if never given)."""
    out: dict[str, str] = {}
    agg = frame.group_by("venue").agg(pl.col("venue_type").drop_nulls().mode().first().alias("vt"))
    for venue, vt in agg.iter_rows():
        out[str(venue)] = str(vt) if vt is not None else "UNKNOWN"
    return out


VenueJob = tuple[pl.DataFrame, str, str, "TrainConfig"]
#: Runs ``train_venue`` over jobs and returns the results in order. The default is the builtin map;
#: the Prefect flows pass one that submits a task per venue to the configured task runner (threads
#: or a Dask cluster), so per-venue training fans out without a second code path.
Mapper = Callable[[Callable[..., tuple[VenueModel, VenueReport]], list[VenueJob]],
                  list[tuple[VenueModel, VenueReport]]]


def serial_map(fn: Callable[..., tuple[VenueModel, VenueReport]],
               jobs: list[VenueJob]) -> list[tuple[VenueModel, VenueReport]]:
    return [fn(*job) for job in jobs]


def train_router(features: pl.DataFrame, config: TrainConfig | None = None, *,
                 meta: dict[str, Any] | None = None,
                 mapper: Mapper | None = None) -> tuple[RouterModel, list[VenueReport]]:
    """Train every venue present in ``features`` (a Features-shaped frame of the training window).

    Returns the RouterModel and one VenueReport per venue (sorted by venue)."""
    config = config or TrainConfig.from_settings()
    if features.height == 0:
        raise ValueError("empty training window: no features rows")
    types = venue_type_map(features)
    n_rows = features.height
    features = stratified_sample(features, config.sample_cap_per_day_venue, config.seed)
    venues: dict[str, VenueModel] = {}
    reports: list[VenueReport] = []
    jobs: list[VenueJob] = []
    for part in sorted(features.partition_by("venue", maintain_order=True), key=lambda p: str(p["venue"][0])):
        venue = str(part["venue"][0])
        jobs.append((part, venue, types[venue], config))
    # with xgboost.dask every fit is spread over the cluster already: venues one after another from here
    for model, report in (serial_map if config.dask_address else mapper or serial_map)(train_venue, jobs):
        venues[model.venue] = model
        reports.append(report)
    reports.sort(key=lambda r: r.venue)
    info = {"train_rows": n_rows, **({"sampled_rows": features.height} if features.height != n_rows else {}),
            **(meta or {})}
    if "date" in features.columns:
        info.setdefault("train_start", str(features["date"].min()))
        info.setdefault("train_end", str(features["date"].max()))
    return RouterModel(venues=dict(sorted(venues.items())), meta=info), reports
