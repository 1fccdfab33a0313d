"""Walk-forward backtest: challenger vs champion vs static waterfall on identical folds.

Rolling origin by trading day: the test days are the last K days (``settings.backtest.folds``) of the
features frame; for test day ``t`` (index ``i`` among the frame's days) the challenger fold model trains
on the ``settings.train.window_days`` days ending at index ``i - embargo - 1`` (``settings.backtest.embargo_days``
days dropped, so no label horizon leaks across the split). The champion is scored as is (it may have
seen the test days: that favours the champion, so the gate stays conservative).

Routing decisions are the rank-1 child orders (``route_rank == 1``), one request each. A policy picks
the venue of least expected cost among all candidate venues (:func:`candidate_rows`); the static
waterfall picks the first venue of ``settings.router.static_waterfall`` that is a candidate. The cost of a
policy (bps per order, + = cost) is its off-policy SN-DR estimate from the logged decisions
(:mod:`sor_pipeline.learning.ope`): propensities as logged, realised costs model-free, the reward model
cross-fitted (for each test day, two models each fitted on the training days plus the other half of
the day's parent orders, scoring the half it did not see; never the challenger being judged). Nothing
here reads the simulator's ground truth: the decision is made on what production has.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from schemas.features import VENUE_STAT_COLUMNS
from sor_pipeline.config.settings import Settings
from sor_pipeline.features.tactics import is_ioc_expr
from sor_pipeline.learning import ope
from sor_pipeline.learning.costs import realized_cost_expr
from sor_pipeline.learning.fold_cache import FoldCache
from sor_pipeline.learning.metrics import auc, brier, mae, rmse
from sor_pipeline.learning.router_model import RouterModel
from sor_pipeline.learning.shifts import SHIFT_MIN_ROWS, latest_shift
from sor_pipeline.learning.train import TrainConfig, mark_shift, train_router

POLICIES = ("static", "challenger", "champion", "previous")
#: Reward models of a test day: its parent orders split in this many folds.
REWARD_FOLDS = 2
TrainFn = Callable[[pl.DataFrame], RouterModel]


@dataclass
class BacktestResult:
    """Per-day costs (``days``), per-request decisions with each policy's SN-DR term (``orders``),
    per-venue prediction error (``venue_metrics``) and the folds run. ``cost_source`` is ``dr``, or
    ``none`` when the logs carry no propensities (no off-policy verdict is possible)."""

    days: pl.DataFrame
    orders: pl.DataFrame
    venue_metrics: pl.DataFrame
    cost_source: str
    folds: list[dict[str, Any]] = field(default_factory=list)
    #: Decisions of the intraday fold (:func:`split_day_by_parent`), same columns as ``orders``; None
    #: when the night had none.
    intraday: pl.DataFrame | None = None


def venue_day_stats(features: pl.DataFrame) -> pl.DataFrame:
    """(date, venue, venue_type, venue_*_20d): the venue's trailing statistics as known on each day
    (they are computed from earlier days only, so the same on every row of a venue and day)."""
    return features.group_by("date", "venue").agg(
        pl.col("venue_type").drop_nulls().first(), *[pl.col(c).mean() for c in VENUE_STAT_COLUMNS]
    ).sort("date", "venue")


def candidate_rows(requests: pl.DataFrame, stats: pl.DataFrame) -> pl.DataFrame:
    """One row per (request, candidate venue): the request's venue-independent features copied to
    every venue of ``stats``, with that venue's trailing-stat columns as of the request's day (latest
    day on or before it). ``requests``: rank-1 features rows with ``date``; adds ``request_id`` (=
    child_id) and ``logged_venue``. Swappable for the feature module's decision features."""
    req = requests.with_columns(pl.col("child_id").alias("request_id"), pl.col("venue").alias("logged_venue"))
    req = req.drop("venue", "venue_type", *VENUE_STAT_COLUMNS, strict=False)
    venues = stats.select("venue").unique().sort("venue")
    cand = req.join(venues, how="cross").sort("date")
    latest = stats.sort("date")
    out = cand.join_asof(latest, on="date", by="venue", strategy="backward", check_sortedness=False) \
        .filter(pl.col("venue_type").is_not_null())
    # the tactic depends on the candidate venue (a LOW-urgency ECN child is posted, not IOC)
    return out.with_columns(is_ioc_expr().alias("is_ioc")).sort("request_id", "venue")


def choose(scored: pl.DataFrame, name: str) -> pl.DataFrame:
    """argmin of ``expected_cost_bps`` per request -> (request_id, venue_<name>)."""
    return (scored.sort("expected_cost_bps", "venue").group_by("request_id")
            .agg(pl.col("venue").first().alias(f"venue_{name}")))


def static_venue(candidates: list[str], waterfall: list[str]) -> str:
    """First waterfall venue among the candidates (else the first candidate, alphabetically)."""
    for v in waterfall:
        if v in candidates:
            return v
    return sorted(candidates)[0]


def fold_windows(days: list[date], folds: int, window: int, embargo: int) -> list[tuple[date, list[date]]]:
    """(test_day, train_days) for the last ``folds`` days; folds without any training day are skipped."""
    out: list[tuple[date, list[date]]] = []
    for i in range(max(0, len(days) - folds), len(days)):
        end = i - embargo - 1
        if end < 0:
            continue
        out.append((days[i], days[max(0, end - window + 1): end + 1]))
    return out


def split_day_by_parent(day: pl.DataFrame, morning_share: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(earlier, later) rows of one day's features: a parent order belongs wholly to one part, by the
    first ``sent_ts`` (ns, UTC) of its children; the earlier part holds the first ``morning_share`` of the
    day's parents in that order (ties broken by ``parent_id``), so decisions of one parent never sit on
    both sides of the split."""
    first = (day.group_by("parent_id").agg(pl.col("sent_ts").min().alias("_first"))
             .sort("_first", "parent_id"))
    n_early = round(first.height * morning_share)
    is_early = pl.col("parent_id").is_in(first.head(n_early)["parent_id"].implode())
    return day.filter(is_early), day.filter(~is_early)


def _q_at(scored: pl.DataFrame, decisions: pl.DataFrame, venue_col: str, out: str) -> pl.DataFrame:
    q = scored.select("request_id", pl.col("venue").alias(venue_col), pl.col("expected_cost_bps").alias(out))
    return decisions.join(q, on=["request_id", venue_col], how="left")


def lit_sweep_cost(day: pl.DataFrame) -> pl.DataFrame:
    """(symbol, lit_sweep_bps): the observed cost of sweeping on the lit market that day, the mean
    arrival slippage (bps, + = cost) of the day's filled LIT children of the symbol (every rank)."""
    lit = day.filter((pl.col("venue_type") == "LIT") & (pl.col("filled") == 1)
                     & pl.col("arrival_slippage_bps").is_not_null())
    return lit.group_by("symbol").agg(pl.col("arrival_slippage_bps").mean().alias("lit_sweep_bps"))


def logged_decisions(test: pl.DataFrame, fallback: pl.DataFrame | None = None) -> pl.DataFrame:
    """The day's rank-1 decisions with their model-free realised cost ``logged_cost_bps``: the filled
    share at its arrival slippage, the rest at the cost of sweeping the request on the lit market at its
    decision time: ``fallback`` ([date,] child_id, fallback_bps; from the displayed books and the day's own lit
    sweeps, :func:`sor_pipeline.learning.costs.lit_fallback_bps`) where given, else the day's observed
    lit-sweep cost of the symbol (the day's mean over symbols where the symbol had no lit fill). The
    symbol-day mean does not grow with the order's size: measured against the simulator's truth it
    charged small orders' remainders ~1 bps too much and large ones too little, which made a dark pool
    taking the large orders look ~0.8 bps cheaper than the waterfall's first pool when it was not."""
    sweep = lit_sweep_cost(test)
    day_mean = sweep["lit_sweep_bps"].mean() if sweep.height else None
    default = float(day_mean) if day_mean is not None else 0.0  # type: ignore[arg-type]
    dec = (test.filter(pl.col("route_rank") == 1)
           .join(sweep, on="symbol", how="left")
           .with_columns(pl.col("lit_sweep_bps").fill_null(default)))
    if fallback is not None:
        # a child id is unique within a day only (FIX ClOrdIDs): the fallback of several days joins by both
        keys = ["date", "child_id"] if "date" in fallback.columns and "date" in dec.columns else ["child_id"]
        dec = (dec.join(fallback.select(*keys, "fallback_bps"), on=keys, how="left")
               .with_columns(pl.coalesce("fallback_bps", "lit_sweep_bps").alias("lit_sweep_bps"))
               .drop("fallback_bps"))
    return dec.with_columns(realized_cost_expr(pl.col("lit_sweep_bps")).alias("logged_cost_bps"))


def _reward_scores(cand: pl.DataFrame, requests: pl.DataFrame, history: pl.DataFrame, test: pl.DataFrame,
                   train_fn: TrainFn) -> pl.DataFrame:
    """Cross-fitted reward model scores of every candidate row: parents split in REWARD_FOLDS folds;
    the model of fold k is fitted on ``history`` plus the test day's other folds and scores fold k."""
    fold_of = requests.select("parent_id").unique().sort("parent_id").with_row_index("k").with_columns(
        (pl.col("k") % REWARD_FOLDS).alias("k"))
    test_k = test.join(fold_of, on="parent_id", how="left")
    req_k = requests.select(pl.col("child_id").alias("request_id"), "parent_id").join(fold_of, on="parent_id")
    out = []
    for k in range(REWARD_FOLDS):
        model = train_fn(pl.concat([history, test_k.filter(pl.col("k") != k).drop("k")], how="diagonal_relaxed"))
        ids = req_k.filter(pl.col("k") == k)["request_id"]
        out.append(model.score(cand.filter(pl.col("request_id").is_in(ids.implode()))))
    return pl.concat(out, how="diagonal_relaxed")


def _fold(test: pl.DataFrame, history: pl.DataFrame, stats: pl.DataFrame, models: dict[str, RouterModel],
          settings: Settings, train_fn: TrainFn, fallback: pl.DataFrame | None = None
          ) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Decisions of one test day with every policy's choice, reward-model values and SN-DR terms."""
    requests = logged_decisions(test, fallback)
    cand = candidate_rows(requests, stats)
    scored = {name: m.score(cand) for name, m in models.items()}
    reward = _reward_scores(cand, requests, history, test, train_fn)
    dec = requests.select(pl.col("child_id").alias("request_id"), "parent_id", "date",
                          pl.col("venue").alias("logged_venue"), "propensity", "router_policy", "logged_cost_bps")
    dec = dec.with_columns(pl.lit(static_venue(cand["venue"].unique().to_list(), settings.router.static_waterfall))
                           .alias("venue_static"))
    for name in POLICIES[1:]:
        dec = dec.join(choose(scored[name], name), on="request_id", how="left") if name in scored \
            else dec.with_columns(pl.lit(None, pl.String).alias(f"venue_{name}"))
    dec = _q_at(reward, dec, "logged_venue", "q_logged_bps")
    for p in POLICIES:
        dec = _q_at(reward, dec, f"venue_{p}", f"q_{p}_bps")
    q_cols = ("q_logged_bps", *[f"q_{p}_bps" for p in POLICIES])
    dec = dec.with_columns(pl.col(c).fill_null(pl.col("logged_cost_bps")) for c in q_cols)
    day = dec["date"].to_numpy()
    for p in POLICIES:
        match = (dec["logged_venue"] == dec[f"venue_{p}"]).fill_null(False).to_numpy()
        w = ope.clipped_weights(match, dec["propensity"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
                                settings.gate.max_importance_weight)
        terms = ope.sn_dr_terms(dec["logged_cost_bps"].to_numpy(), dec["q_logged_bps"].to_numpy(),
                                dec[f"q_{p}_bps"].to_numpy(), w, day)
        has = dec[f"venue_{p}"].is_not_null().to_numpy()
        dec = dec.with_columns(pl.Series(f"w_{p}", w), pl.Series(f"dr_{p}", np.where(has, terms, np.nan)))
    return dec, scored


def venue_errors(preds: pl.DataFrame) -> pl.DataFrame:
    """Per model and venue: slippage MAE / RMSE (bps, filled rows), fill AUC and Brier score."""
    rows: list[dict[str, Any]] = []
    for (model, venue), part in sorted(preds.partition_by("model", "venue", as_dict=True).items()):
        f = part.filter((pl.col("filled") == 1) & pl.col("arrival_slippage_bps").is_not_null())
        y, p = part["filled"].to_numpy(), part["p_fill"].to_numpy()
        rows.append({"model": model, "venue": venue, "n": part.height, "n_filled": f.height,
                     "slippage_mae_bps": mae(f["arrival_slippage_bps"].to_numpy(), f["slippage_bps"].to_numpy()),
                     "slippage_rmse_bps": rmse(f["arrival_slippage_bps"].to_numpy(), f["slippage_bps"].to_numpy()),
                     "fill_auc": auc(y, p), "fill_brier": brier(y, p)})
    return pl.DataFrame(rows, schema={"model": pl.String, "venue": pl.String, "n": pl.Int64, "n_filled": pl.Int64,
                                      "slippage_mae_bps": pl.Float64, "slippage_rmse_bps": pl.Float64,
                                      "fill_auc": pl.Float64, "fill_brier": pl.Float64})


def daily_costs(orders: pl.DataFrame) -> pl.DataFrame:
    """Per day: decisions, realised mean cost of what was routed (``cost_logged``, exploration
    included), and per policy its SN-DR cost ``cost_<policy>`` (bps per decision, + = cost; null when
    the policy does not exist), ESS of its weights and its support (share of decisions it agrees with)."""
    aggs = [pl.len().alias("n_requests"), pl.col("logged_cost_bps").mean().alias("cost_logged")]
    for p in POLICIES:
        aggs += [pl.col(f"dr_{p}").mean().alias(f"cost_{p}"),
                 ope.ess_expr(f"w_{p}").alias(f"ess_{p}"),
                 (pl.col(f"w_{p}") > 0).mean().alias(f"support_{p}")]
    return orders.group_by("date").agg(aggs).sort("date").with_columns(
        pl.col(f"cost_{p}").fill_nan(None) for p in POLICIES)


def walk_forward(features: pl.DataFrame, settings: Settings, *, champion: RouterModel | None = None,
                 previous: RouterModel | None = None, train_fn: TrainFn | None = None,
                 cache: FoldCache | None = None, fallback: pl.DataFrame | None = None,
                 split_day: date | None = None) -> BacktestResult:
    """Run the walk-forward backtest over the last ``settings.backtest.folds`` days of ``features``
    (Features rows with ``date``). ``train_fn`` trains a fold's challenger and the reward models
    (default: train_router); with ``cache`` a model already fitted on the same rows is reused;
    ``fallback`` (child_id, fallback_bps) prices the unfilled share of logged decisions (:func:`logged_decisions`).

    ``split_day`` (the first day of a venue's regime change, when it is the last test day): one more
    fold, the *intraday* fold, whose challenger and reward models train on that day's fold window plus
    the day's earlier parent orders (``settings.backtest.intraday_morning_share``) and which scores the
    day's later decisions (:attr:`BacktestResult.intraday`). The day's own fold cannot show what a
    model that saw the change would do; this one can, on the same day's logs, later in time."""
    base_fn = train_fn or (lambda frame: train_router(frame)[0])
    train_fn = base_fn if cache is None else (lambda frame: cache.fit(frame, base_fn))
    days = sorted(features["date"].unique().to_list())
    windows = fold_windows(days, settings.backtest.folds, settings.train.window_days, settings.backtest.embargo_days)
    if not windows:
        raise ValueError(f"not enough days for a walk-forward fold: {len(days)} day(s), "
                         f"embargo {settings.backtest.embargo_days}")
    all_stats = venue_day_stats(features)
    decisions, preds, folds = [], [], []
    for test_day, train_days in windows:
        history = features.filter(pl.col("date").is_in(train_days))
        challenger = train_fn(history)
        test = features.filter(pl.col("date") == test_day)
        stats = all_stats.filter(pl.col("date") <= test_day)
        models = {"challenger": challenger, **({"champion": champion} if champion is not None else {}),
                  **({"previous": previous} if previous is not None else {})}
        dec, _ = _fold(test, history, stats, models, settings, train_fn, fallback)
        decisions.append(dec)
        for name, model in (("challenger", challenger), ("champion", champion)):
            if model is not None:
                preds.append(model.predict(test).select(
                    pl.lit(name).alias("model"), "venue", "filled", "arrival_slippage_bps", "p_fill", "slippage_bps"))
        folds.append({"test_day": str(test_day), "train_start": str(train_days[0]), "train_end": str(train_days[-1]),
                      "train_days": len(train_days)})
    intraday = None
    if split_day is not None and windows[-1][0] == split_day:
        intraday = _intraday_fold(features, windows[-1][1], split_day, all_stats, settings, train_fn,
                                  champion, previous, fallback, folds)
    # one row order whatever the joins' (unordered) output: the gate's sums then add in one order
    orders = pl.concat(decisions, how="diagonal_relaxed").sort("date", "request_id", maintain_order=True)
    source = "dr" if orders["propensity"].null_count() < orders.height else "none"
    return BacktestResult(days=daily_costs(orders), orders=orders,
                          venue_metrics=venue_errors(pl.concat(preds, how="vertical_relaxed")),
                          cost_source=source, folds=folds, intraday=intraday)


def _intraday_fold(features: pl.DataFrame, train_days: list[date], day: date, all_stats: pl.DataFrame,
                   settings: Settings, train_fn: TrainFn, champion: RouterModel | None,
                   previous: RouterModel | None, fallback: pl.DataFrame | None,
                   folds: list[dict[str, Any]]) -> pl.DataFrame | None:
    """The intraday fold of ``day`` (see :func:`walk_forward`); None when either part has no decision."""
    early, late = split_day_by_parent(features.filter(pl.col("date") == day),
                                      settings.backtest.intraday_morning_share)
    if early.filter(pl.col("route_rank") == 1).is_empty() or late.filter(pl.col("route_rank") == 1).is_empty():
        return None
    history = pl.concat([features.filter(pl.col("date").is_in(train_days)), early], how="diagonal_relaxed")
    # the change is looked for again on what this fold may see (the earlier part counts with its share of
    # a day's rows), so the test decisions never tell the fold which venue moved
    config = TrainConfig.from_settings(settings)
    min_rows = max(5, math.ceil(SHIFT_MIN_ROWS * settings.backtest.intraday_morning_share))
    found = latest_shift(history, z_min=config.shift_z, min_rows=min_rows) if config.shift_z is not None else None
    if found is not None and found[1].start == day:
        history = mark_shift(history, found[0], day, config.pre_shift_weight)
    models = {"challenger": train_fn(history), **({"champion": champion} if champion is not None else {}),
              **({"previous": previous} if previous is not None else {})}
    dec, _ = _fold(late, history, all_stats.filter(pl.col("date") <= day), models, settings, train_fn, fallback)
    folds.append({"test_day": str(day), "part": "later parent orders", "train_start": str(train_days[0]),
                  "train_end": f"{day} (earlier parent orders)", "train_days": len(train_days) + 1,
                  "test_requests": dec.height})
    return dec.sort("date", "request_id", maintain_order=True)
