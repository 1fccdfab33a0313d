"""Nightly retrain: train the challenger, backtest it against the champion and the static waterfall,
decide (promote / keep / demote / inconclusive, :mod:`sor_pipeline.learning.gate`) on logged data only,
log everything to MLflow, register the challenger, and carry the decision out on the registry last
(:func:`finalize_promotion`, every alias move written to the ledger).

Windows (trading days present in the lake's ``features`` dataset, up to ``day`` inclusive):
- challenger: the last ``settings.train.window_days`` days ending at ``day``;
- backtest: the last ``settings.backtest.folds`` days are test days, each with its own fold model
  trained on the window ending ``settings.backtest.embargo_days`` days before it.

Idempotent: every registered version carries a ``run_key`` tag (default ``<day>:<data hash>``); if a
version with the key exists, its summary is returned and nothing is trained or registered.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from importlib import metadata
from typing import Any

import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.config.version import code_version
from sor_pipeline.learning import plots
from sor_pipeline.learning.backtest import candidate_rows, venue_day_stats, walk_forward
from sor_pipeline.learning.fold_cache import FoldCache
from sor_pipeline.learning.gate import evaluate_gate
from sor_pipeline.learning.lit_fallback import lit_fallback
from sor_pipeline.learning.router_model import RouterModel
from sor_pipeline.learning.shifts import latest_shift
from sor_pipeline.learning.train import (
    SAMPLE_WEIGHT,
    Mapper,
    TrainConfig,
    sample_parents,
    stratified_sample,
    train_router,
)
from sor_pipeline.promotion.champion import NIGHT_TAG, champion_at_start
from sor_pipeline.storage import registry
from sor_pipeline.storage.lake import Lake

RUN_KEY_TAG = "run_key"


@dataclass
class RetrainResult:
    """Summary of one retrain. ``cost_diff_bps`` = challenger - champion (or - static on the first run),
    bps per order, negative = challenger better. ``per_day`` has, per test day, the mean cost per order
    (bps, SN-DR estimates) of ``static``, ``challenger``, ``champion`` and ``previous`` (None if none) and the
    realised cost of what was routed (``logged``)."""

    day: str
    promoted: bool
    champion_version: str | None
    challenger_version: str
    p_value: float
    cost_diff_bps: float
    run_id: str
    verdict: str
    reasons: list[str]
    cost_source: str
    run_key: str
    data_hash: str
    per_day: list[dict[str, Any]] = field(default_factory=list)
    reused: bool = False
    gate_passed: bool = False
    action: str = "keep"
    demote: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on (from package metadata)."""
    out = {"python": platform.python_version()}
    for dist in ("xgboost-cpu", "xgboost", "polars", "numpy", "mlflow", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def data_hash(lake: Lake, days: list[date], datasets: tuple[str, ...] = ("features",)) -> str:
    """sha256 over the per-partition hashes of ``datasets`` for ``days`` (missing partitions skipped)."""
    h = hashlib.sha256()
    for name in datasets:
        for d in days:
            if lake.exists(name, d):
                h.update(f"{name}/{d}:{lake.partition_hash(name, d)}".encode())
    return h.hexdigest()


def fit_json(obj: Any, limit: int) -> str:
    """``obj`` as JSON of at most ``limit`` characters that still parses: a list keeps its newest
    (last) items that fit; a mapping keeps its scalar values and says ``"truncated": true``."""
    text = json.dumps(obj, default=str)
    if len(text) <= limit:
        return text
    if isinstance(obj, list):
        for start in range(1, len(obj) + 1):
            text = json.dumps(obj[start:], default=str)
            if len(text) <= limit:
                return text
    if isinstance(obj, dict):
        scalars = {k: v for k, v in obj.items() if isinstance(v, str | int | float | bool) or v is None}
        text = json.dumps({**scalars, "truncated": True}, default=str)
        if len(text) <= limit:
            return text
    return json.dumps({"truncated": True})


def _per_day(days: pl.DataFrame) -> list[dict[str, Any]]:
    cols = {"static": "cost_static", "challenger": "cost_challenger", "champion": "cost_champion",
            "previous": "cost_previous", "logged": "cost_logged"}
    return [{"date": str(r["date"]), "n_requests": r["n_requests"], **{k: r.get(c) for k, c in cols.items()}}
            for r in days.iter_rows(named=True)]


def _reuse(settings: Settings, version: str) -> RetrainResult:
    tags = registry.version_tags(settings, version)
    return RetrainResult(
        day=tags.get("day", ""), promoted=tags.get("promoted") == "true",
        champion_version=registry.champion_version(settings), challenger_version=version,
        p_value=float(tags.get("p_value", "nan")), cost_diff_bps=float(tags.get("cost_diff_bps", "nan")),
        run_id=tags.get("run_id", ""), verdict=tags.get("gate_verdict", ""),
        reasons=json.loads(tags.get("gate_reasons", "[]")), cost_source=tags.get("cost_source", ""),
        run_key=tags.get(RUN_KEY_TAG, ""), data_hash=tags.get("data_hash", ""),
        per_day=json.loads(tags.get("per_day_costs", "[]")), reused=True,
        gate_passed=tags.get("gate_verdict") == "pass", action=tags.get("action", "keep"),
        demote=tags.get("action") == "demote", evidence=json.loads(tags.get("evidence", "{}")))


def look_number(settings: Settings, day: date, shift_start: date | None = None) -> int:
    """How many nights, this one included, the current incumbent has faced a challenger: the nights that
    registered a challenger after the last alias move of the ledger made before ``day`` (1 the night
    after a move, or on the first night that can judge). A venue's adverse regime change found in the
    logged outcomes (``shift_start``, its first day) starts a new sequence of looks too: the night of
    that day is look 1. The question "is the challenger cheaper than the incumbent" is asked afresh of
    a new regime, so the promotion level is spent per regime (``gate.alpha`` per incumbent and regime);
    without it a champion promoted early leaves a later regime's challenger facing p < 0.001 (measured:
    a challenger that avoided a pool turned toxic, 0.34 bps cheaper than the champion on its first
    night, p 0.03, was held at look 5 while the champion cost +1.3 bps/decision over static)."""
    moved = [str(e["night"]) for e in registry.ledger(settings) if str(e["night"]) < day.isoformat()]
    since = max(moved) if moved else ""
    if shift_start is not None and shift_start <= day:
        since = max(since, (shift_start - timedelta(days=1)).isoformat())
    return 1 + len({n for n in registry.judged_nights(settings) if since < n < day.isoformat()})


def min_history_days(settings: Settings) -> int:
    """Feature days needed before a retrain can be judged: the fewest folds (``backtest.min_folds``, at
    most ``backtest.folds``), the embargo and 2 training days."""
    b = settings.backtest
    return min(b.min_folds, b.folds) + b.embargo_days + 2


def night_folds(settings: Settings, n_days: int) -> int:
    """Walk-forward folds of a night with ``n_days`` feature days: ``backtest.folds``, or fewer while
    history is short (never fewer than ``backtest.min_folds``; see :func:`min_history_days`)."""
    b = settings.backtest
    return max(1, min(b.folds, n_days - b.embargo_days - 2))


def skipped_result(day: date, reason: str) -> RetrainResult:
    """No challenger tonight (e.g. too little history): nothing is registered or promoted."""
    return RetrainResult(day=day.isoformat(), promoted=False, champion_version=None, challenger_version="",
                         p_value=float("nan"), cost_diff_bps=float("nan"), run_id="", verdict="skipped",
                         reasons=[reason], cost_source="", run_key="", data_hash="")


def plan_promotion(settings: Settings, retrain: dict[str, Any], sandbox: dict[str, Any] | None) -> dict[str, bool]:
    """What :func:`finalize_promotion` will do, without doing it: ``{"promoted": .., "demoted": ..}``.
    The nightly states this decision in its report and run before the alias moves (the move is last)."""
    version = retrain.get("challenger_version") or ""
    action = retrain.get("action", "keep")
    sandbox_ok = sandbox is None or bool(sandbox.get("passed"))
    promoted = action == "promote" and bool(retrain.get("gate_passed")) and sandbox_ok and bool(version)
    demoted = action == "demote" and registry.champion_version(settings) is not None
    return {"promoted": promoted, "demoted": demoted}


def finalize_promotion(settings: Settings, day: str, retrain: dict[str, Any],
                       sandbox: dict[str, Any] | None) -> dict[str, bool]:
    """Carry out the night's decision on the registry, last: promote the challenger when the gate said
    so and the sandbox passed (or was not required); demote the champion (static routes tomorrow) when
    the gate said so. The outcome is recorded on the challenger version first, then the alias moves
    (written to the alias ledger with its evidence); if the move fails, the version's ``promoted`` tag
    says ``not applied``. Returns ``{"promoted": .., "demoted": ..}``."""
    version = retrain.get("challenger_version") or ""
    plan = plan_promotion(settings, retrain, sandbox)
    promoted, demoted = plan["promoted"], plan["demoted"]
    evidence = retrain.get("evidence") or {}
    reason = "; ".join(retrain.get("reasons") or [])
    if version:
        tags = {"promoted": str(promoted).lower(), "demoted_champion": str(demoted).lower()}
        if sandbox is not None:
            tags["sandbox"] = fit_json(sandbox, settings.retrain.tag_max_chars)
        registry.set_version_tags(settings, version, tags)
        registry.describe_version(settings, version,
                                  registry.describe_night(_reuse(settings, version).as_dict(), sandbox))
    try:
        if promoted:
            registry.promote_version(settings, version, day, reason, evidence)
        elif demoted and evidence.get("demote_to") == "previous" and registry.previous_version(settings):
            registry.restore_previous(settings, day, reason, evidence)
        elif demoted:
            registry.demote_champion(settings, day, reason, evidence)
    except Exception:
        if version and (promoted or demoted):
            with contextlib.suppress(Exception):  # best effort: the store that refused the move may refuse this
                registry.set_version_tags(settings, version, {"promoted": "not applied"})
        raise
    return plan


def _fit_night_model(day: date, train_frame: pl.DataFrame, train_days: list[date], dhash: str, run_key: str,
                     settings: Settings, train_config: TrainConfig | None, mapper: Mapper | None,
                     ) -> tuple[RouterModel, list[Any], dict[str, str], dict[str, Any], pl.DataFrame]:
    """Train the night's model on ``train_frame`` and what both a scout and a judged night log with it:
    (model, venue reports, run/version tags, base params, an example request for the model signature)."""
    meta = {"train_start": str(train_days[0]), "train_end": str(train_days[-1]), "data_hash": dhash}
    model, reports = train_router(train_frame, train_config, meta=meta, mapper=mapper)
    tags = {NIGHT_TAG: day.isoformat(), "train_window": f"{train_days[0]}..{train_days[-1]}", "data_hash": dhash,
            "code_version": code_version(), RUN_KEY_TAG: run_key}
    params: dict[str, Any] = {**tags, "train_days": len(train_days), "train_rows": train_frame.height,
                              **{k: v for k, v in asdict(train_config or TrainConfig()).items() if k != "dask_address"},
                              **({"xgboost_dask": True} if settings.train.xgboost_dask else {}),
                              **{f"lib_{k}": v for k, v in library_versions().items()}}
    requests = train_frame.filter((pl.col("date") == day) & (pl.col("route_rank") == 1)).head(1)
    example = candidate_rows(requests if requests.height else train_frame.head(1), venue_day_stats(train_frame))
    return model, reports, tags, params, example


def register_scout(day: date, lake: Lake, settings: Settings, available: list[date], why: str, *,
                   run_key: str | None = None, train_config: TrainConfig | None = None,
                   mapper: Mapper | None = None) -> RetrainResult:
    """A warm-up night (too little history for the walk-forward backtest): train the challenger on the
    days there are and register it with action ``scout``. A scout is never judged, never counts as a
    look and is never promoted; while no champion routes, the newest registered version steers only
    the static waterfall's exploration (:func:`sor_pipeline.serving.exploration.scout_params`), so the
    first night that can judge finds logged decisions where its challenger would route. Idempotent by
    ``run_key`` like :func:`run_retrain`."""
    t0 = time.perf_counter()
    train_days = available[-settings.train.window_days:]
    dhash = data_hash(lake, train_days)
    run_key = run_key or f"{day.isoformat()}:{dhash[:16]}"
    existing = registry.find_version(settings, RUN_KEY_TAG, run_key)
    if existing is not None:
        return _reuse(settings, existing)
    train_frame = lake.read("features", days=train_days).collect()
    scout, reports, tags, params, example = _fit_night_model(day, train_frame, train_days, dhash, run_key,
                                                             settings, train_config, mapper)
    params["role"] = "scout"
    reason = f"scout only: {why}; it steers exploration while static routes and is never promoted"
    with registry.parent_run(settings, f"scout-{day.isoformat()}", {**tags, "role": "scout"}) as run_id:
        registry.log_params(params)
        registry.log_venue_runs(reports, {"train_window": tags["train_window"], "data_hash": dhash},
                                figures=plots.venue_figures)
        model_uri = registry.log_router_model(scout, example)
        registry.log_metrics({"retrain_seconds": time.perf_counter() - t0})
    version = registry.register_model(settings, model_uri, {
        **tags, "gate_verdict": "scout", "gate_reasons": fit_json([reason], settings.retrain.tag_max_chars),
        "p_value": "nan", "cost_diff_bps": "nan", "cost_source": "none", "run_id": run_id, "promoted": "false",
        "action": "scout", "evidence": "{}", "per_day_costs": "[]"})
    result = RetrainResult(day=day.isoformat(), promoted=False, champion_version=registry.champion_version(settings),
                           challenger_version=version, p_value=float("nan"), cost_diff_bps=float("nan"),
                           run_id=run_id, verdict="scout", reasons=[reason], cost_source="none", run_key=run_key,
                           data_hash=dhash, action="scout")
    registry.describe_version(settings, version, registry.describe_night(result.as_dict()))
    return result


def shift_note(features: pl.DataFrame, train_config: TrainConfig | None) -> dict[str, Any]:
    """The latest adverse shift of a venue's outcomes in the window
    (:func:`sor_pipeline.learning.shifts.latest_shift`), for the night's evidence and reasons: which
    venue, since when, what moved and by how much (``{}``: none). The gate then compares the challenger
    with the incumbent on the test days after the shift's first day, or, on the night of that day, on
    the backtest's intraday fold (:func:`sor_pipeline.learning.backtest.walk_forward`)."""
    z = (train_config or TrainConfig()).shift_z
    found = latest_shift(features, z_min=z) if z is not None else None
    if found is None:
        return {}
    venue, shift = found
    what = "fill ratio" if shift.outcome == "fill_ratio" else "slippage (bps)"
    return {"venue": venue, "start": str(shift.start), "outcome": shift.outcome, "change": shift.change,
            "z": shift.z, "note": f"{venue} shifted on {shift.start} ({what} {shift.change:+.2f}, z {shift.z:.1f}): "
                                  f"its rows before weigh {(train_config or TrainConfig()).pre_shift_weight} "
                                  f"in training"}


def read_window(lake: Lake, days: list[date], test_days: list[date], settings: Settings,
                config: TrainConfig) -> pl.DataFrame:
    """The night's features window, read one day at a time and bounded as it is read: a test day keeps
    at most ``backtest.max_decisions_per_day`` decisions (:func:`sample_parents`), a day that only
    trains keeps at most ``train.sample_cap_per_day_venue`` rows per venue (:func:`stratified_sample`,
    which training applies anyway), so a big window is never held whole. Without either bound, every row
    of every day, as before. A venue's trailing statistics are the same on all its rows of a day, so the
    backtest's candidate rows do not change with the sample."""
    cap, most = config.sample_cap_per_day_venue, settings.backtest.max_decisions_per_day
    if cap is None and most is None:
        return lake.read("features", days=days).collect()
    parts = []
    for d in days:
        frame = lake.read("features", days=[d]).collect()
        parts.append(sample_parents(frame, most, config.seed) if d in test_days
                     else stratified_sample(frame, cap, config.seed))
    out = pl.concat(parts, how="diagonal_relaxed")
    return out.with_columns(pl.col(SAMPLE_WEIGHT).fill_null(1.0)) if SAMPLE_WEIGHT in out.columns else out


def run_retrain(day: date, lake: Lake, settings: Settings, *, data_checks_ok: bool = True,
                run_key: str | None = None, train_config: TrainConfig | None = None,
                promote: bool = True, mapper: Mapper | None = None) -> RetrainResult:
    """The nightly retrain for trading date ``day`` (see the module docstring). With ``promote=False``
    the challenger is registered and judged but the alias is left for :func:`finalize_promotion`
    (the nightly runs its sandbox stage in between)."""
    t0 = time.perf_counter()
    available = [d for d in lake.dates("features") if d <= day]
    if day not in available:
        raise ValueError(f"no features partition for {day}")
    if len(available) < min_history_days(settings):
        why = (f"insufficient history: {len(available)} feature days < {min_history_days(settings)} "
               f"(min folds + embargo + 2)")
        if settings.train.scout_min_days and len(available) >= settings.train.scout_min_days:
            return register_scout(day, lake, settings, available, why, run_key=run_key,
                                  train_config=train_config, mapper=mapper)
        return skipped_result(day, why)
    folds = night_folds(settings, len(available))
    if folds != settings.backtest.folds:  # short history: judge on the test days there are
        settings = settings.with_overrides(backtest_folds=folds)
    need = settings.train.window_days + settings.backtest.embargo_days + settings.backtest.folds
    window = available[-need:]
    train_days = available[-settings.train.window_days:]
    dhash = data_hash(lake, window)
    run_key = run_key or f"{day.isoformat()}:{dhash[:16]}"
    existing = registry.find_version(settings, RUN_KEY_TAG, run_key)
    if existing is not None:
        return _reuse(settings, existing)

    features = read_window(lake, window, window[-settings.backtest.folds:], settings,
                           train_config or TrainConfig.from_settings(settings))
    # the champion this night started with (a re-run after its own promotion must not face itself),
    # and the one it replaced, each judged on the same logged decisions as the challenger
    champion_before = champion_at_start(settings, day)
    champion = (registry.load_version(settings, champion_before, RouterModel.load)
                if champion_before is not None else None)
    previous_v = registry.previous_version(settings) if champion_before is not None else None
    previous = (registry.load_version(settings, previous_v, RouterModel.load)
                if previous_v not in (None, champion_before) else None)

    def fit(frame: pl.DataFrame) -> RouterModel:
        return train_router(frame, train_config, mapper=mapper)[0]

    cache = (FoldCache(settings.fold_cache_dir, (train_config or TrainConfig.from_settings(settings)).cache_salt())
             if settings.backtest.fold_cache else None)
    fallback = lit_fallback(lake, features, sorted(features["date"].unique().to_list())[-settings.backtest.folds:])
    shifted = shift_note(features, train_config)
    shift_start = date.fromisoformat(shifted["start"]) if shifted else None
    backtest = walk_forward(features, settings, champion=champion, previous=previous, train_fn=fit, cache=cache,
                            fallback=fallback,
                            split_day=shift_start if settings.backtest.intraday_fold and shift_start == day else None)
    look = look_number(settings, day, shift_start)
    verdict = evaluate_gate(backtest.orders, backtest.venue_metrics, settings, cost_source=backtest.cost_source,
                            data_checks_ok=data_checks_ok, per_day=backtest.days, look=look, shift_start=shift_start,
                            intraday=backtest.intraday)
    if shifted:
        verdict.reasons.append(shifted["note"])
    evidence: dict[str, Any] = {k: (v.as_dict() if v is not None else None) for k, v in (
        ("vs_incumbent", verdict.vs_incumbent), ("vs_static", verdict.vs_static),
        ("champion_vs_static", verdict.champion_vs_static), ("champion_vs_previous", verdict.champion_vs_previous))}
    evidence.update(ess=verdict.ess, baseline=verdict.baseline, cost_source=verdict.cost_source, look=look,
                    demote_to=verdict.demote_to, shift=shifted or None,
                    intraday_fold=next((f for f in backtest.folds if "part" in f), None))
    train_frame = features.filter(pl.col("date").is_in(train_days))
    challenger, reports, tags, params, example = _fit_night_model(day, train_frame, train_days, dhash, run_key,
                                                                  settings, train_config, mapper)
    per_day = _per_day(backtest.days)
    params.update({"backtest_folds": settings.backtest.folds, "embargo_days": settings.backtest.embargo_days,
                   "champion_version_before": champion_before or "none", "cost_source": backtest.cost_source})
    with registry.parent_run(settings, f"retrain-{day.isoformat()}", tags) as run_id:
        registry.log_params(params)
        registry.log_venue_runs(reports, {"train_window": tags["train_window"], "data_hash": dhash},
                                figures=plots.venue_figures)
        registry.log_metrics(verdict.metrics())
        for i, r in enumerate(backtest.days.iter_rows(named=True)):
            registry.log_metrics({k: v for k, v in r.items() if k.startswith(("cost_", "ess_", "support_"))
                                  and v is not None}, step=i)
        registry.log_json(verdict.to_dict(), "gate/verdict.json")
        registry.log_json(backtest.folds, "backtest/folds.json")
        registry.log_table(backtest.days, "gate/per_day.csv")
        registry.log_table(backtest.venue_metrics, "backtest/venue_metrics.csv")
        model_uri = registry.log_router_model(challenger, example)
        registry.log_metrics({"retrain_seconds": time.perf_counter() - t0})
    limit = settings.retrain.tag_max_chars
    version_tags = {**tags, "gate_verdict": verdict.verdict, "gate_reasons": fit_json(verdict.reasons, limit),
                    "p_value": repr(float(verdict.p_value)), "cost_diff_bps": repr(float(verdict.cost_diff_bps)),
                    "cost_source": backtest.cost_source, "run_id": run_id,
                    "promoted": str(verdict.passed and promote).lower() if promote else "pending",
                    "action": verdict.action, "evidence": fit_json(evidence, limit),
                    "per_day_costs": fit_json(per_day, limit)}
    version = registry.register_model(settings, model_uri, version_tags)
    if promote and verdict.action in ("promote", "demote"):
        finalize_promotion(settings, day.isoformat(), {"challenger_version": version, "action": verdict.action,
                                                       "gate_passed": verdict.passed, "reasons": verdict.reasons,
                                                       "evidence": evidence}, None)
    if promote:  # final now (the nightly describes the version in finalize_promotion, after its sandbox)
        registry.describe_version(settings, version, registry.describe_night(_reuse(settings, version).as_dict()))
    return RetrainResult(
        day=day.isoformat(), promoted=verdict.passed and promote, champion_version=registry.champion_version(settings),
        challenger_version=version, p_value=verdict.p_value, cost_diff_bps=verdict.cost_diff_bps, run_id=run_id,
        verdict=verdict.verdict, reasons=verdict.reasons, cost_source=backtest.cost_source, run_key=run_key,
        data_hash=dhash, per_day=per_day, gate_passed=verdict.passed, action=verdict.action,
        demote=verdict.demote, evidence=evidence)
