"""Walk-forward backtest: challenger vs champion vs static waterfall on identical folds.

Rolling origin by trading day: the test days are the last K days (``settings.backtest.folds``) of the
features frame; for test day ``t`` (index ``i`` among the frame's days) the challenger fold model trains
on the ``settings.train.window_days`` days ending at index ``i - embargo - 1`` (``settings.backtest.embargo_days``
days dropped, so no label horizon leaks across the split). The champion is scored as is (it may have
seen the test days: that favours the champion, so the gate stays conservative).

Routing decisions are the rank-1 child orders (``route_rank == 1``), one request each. A policy picks
the venue of least expected cost among all candidate venues (:func:`candidate_rows`); the static
waterfall picks the first venue of ``settings.router.static_waterfall`` that is a candidate. The cost of a
policy (bps per order, + = cost) is the oracle's ``expected_cost_bps`` of the chosen venue when a
``sim_oracle`` frame is given, and the off-policy DR estimate otherwise (IPS is reported too).
"""

from __future__ import annotations

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
from sor_pipeline.learning.metrics import auc, brier, mae, rmse
from sor_pipeline.learning.router_model import RouterModel
from sor_pipeline.learning.train import train_router

POLICIES = ("static", "challenger", "champion")
TrainFn = Callable[[pl.DataFrame], RouterModel]


@dataclass
class BacktestResult:
    """Per-day costs (``days``), per-request decisions (``orders``), per-venue prediction error
    (``venue_metrics``), ranking quality vs the oracle (``ranking``) and the folds run."""

    days: pl.DataFrame
    orders: pl.DataFrame
    venue_metrics: pl.DataFrame
    ranking: pl.DataFrame
    cost_source: str
    folds: list[dict[str, Any]] = field(default_factory=list)


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
    return scored.sort("expected_cost_bps").group_by("request_id").agg(pl.col("venue").first().alias(f"venue_{name}"))


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


def _q_at(scored: pl.DataFrame, decisions: pl.DataFrame, venue_col: str, out: str) -> pl.DataFrame:
    q = scored.select("request_id", pl.col("venue").alias(venue_col), pl.col("expected_cost_bps").alias(out))
    return decisions.join(q, on=["request_id", venue_col], how="left")


def _fold(test: pl.DataFrame, stats: pl.DataFrame, challenger: RouterModel, champion: RouterModel | None,
          waterfall: list[str]) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Decisions of one test day; returns (decisions, scored candidates per model)."""
    requests = test.filter(pl.col("route_rank") == 1)
    cand = candidate_rows(requests, stats)
    scored = {"challenger": challenger.score(cand)}
    if champion is not None:
        scored["champion"] = champion.score(cand)
    ref = scored["challenger"]  # reward model of the OPE direct-method term
    dec = requests.select(pl.col("child_id").alias("request_id"), "date", pl.col("venue").alias("logged_venue"),
                          "propensity", "fill_ratio", "arrival_slippage_bps")
    fb = ref.group_by("request_id").agg(pl.col("fallback_bps").first().alias("fallback_ref_bps"))
    dec = dec.join(fb, on="request_id", how="left")
    dec = dec.with_columns(pl.lit(static_venue(cand["venue"].unique().to_list(), waterfall)).alias("venue_static"))
    for name, sc in scored.items():
        dec = dec.join(choose(sc, name), on="request_id", how="left")
    if champion is None:
        dec = dec.with_columns(pl.lit(None, pl.String).alias("venue_champion"))
    dec = dec.with_columns(pl.coalesce(f"venue_{p}", "venue_static").alias(f"venue_{p}") for p in POLICIES[1:])
    dec = _q_at(ref, dec, "logged_venue", "q_logged_bps")
    for p in POLICIES:
        dec = _q_at(ref, dec, f"venue_{p}", f"q_{p}_bps")
    q_cols = ("q_logged_bps", *[f"q_{p}_bps" for p in POLICIES])
    fill = [pl.col(c).fill_null(pl.col("fallback_ref_bps")) for c in q_cols]
    dec = dec.with_columns(fill).with_columns(realized_cost_expr(pl.col("fallback_ref_bps")).alias("logged_cost_bps"))
    for p in POLICIES:
        dec = ope.policy_terms(dec, p)
    return dec, scored


def _add_oracle(dec: pl.DataFrame, oracle: pl.DataFrame) -> pl.DataFrame:
    o = oracle.select(pl.col("child_id").alias("request_id"), "venue", "expected_cost_bps")
    best = o.group_by("request_id").agg(pl.col("expected_cost_bps").min().alias("oracle_best"))
    dec = dec.join(best, on="request_id", how="left")
    for p in POLICIES:
        dec = dec.join(o.rename({"venue": f"venue_{p}", "expected_cost_bps": f"oracle_{p}"}),
                       on=["request_id", f"venue_{p}"], how="left")
    return dec


def _ranking(scored: pl.DataFrame, oracle: pl.DataFrame, model: str) -> dict[str, Any]:
    o = oracle.select(pl.col("child_id").alias("request_id"), "venue", pl.col("expected_cost_bps").alias("true"))
    pred = scored.select("request_id", "venue", pl.col("expected_cost_bps").alias("pred"))
    j = pred.join(o, on=["request_id", "venue"])
    per = j.group_by("request_id").agg(
        pl.corr("pred", "true", method="spearman").alias("rho"),
        (pl.col("venue").sort_by("pred").first() == pl.col("venue").sort_by("true").first()).alias("top1"))
    return {"model": model, "spearman": per["rho"].fill_nan(None).mean(), "top1_agreement": per["top1"].mean(),
            "n_requests": per.height}


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


def daily_costs(orders: pl.DataFrame, cost_source: str, has_champion: bool = True) -> pl.DataFrame:
    """Per day: mean cost per order of each policy (bps, + = cost) by oracle / DR / IPS, and the gate's
    ``cost_<policy>`` (oracle when available else DR) and ``cost_oracle`` (best venue, oracle only)."""
    aggs = [pl.len().alias("n_requests")]
    for p in POLICIES:
        aggs += [pl.col(f"dr_{p}").mean().alias(f"dr_{p}"), pl.col(f"ips_{p}").mean().alias(f"ips_{p}")]
        if cost_source == "oracle":
            aggs.append(pl.col(f"oracle_{p}").mean().alias(f"oracle_{p}"))
    if cost_source == "oracle":
        aggs.append(pl.col("oracle_best").mean().alias("cost_oracle"))
    days = orders.group_by("date").agg(aggs).sort("date")
    if cost_source != "oracle":
        days = days.with_columns(pl.lit(None, pl.Float64).alias("cost_oracle"))
    days = days.with_columns(pl.col(f"{'oracle' if cost_source == 'oracle' else 'dr'}_{p}").alias(f"cost_{p}")
                             for p in POLICIES)
    if not has_champion:
        days = days.with_columns(pl.lit(None, pl.Float64).alias("cost_champion"))
    return days


def walk_forward(features: pl.DataFrame, settings: Settings, *, champion: RouterModel | None = None,
                 oracle: pl.DataFrame | None = None, train_fn: TrainFn | None = None) -> BacktestResult:
    """Run the walk-forward backtest over the last ``settings.backtest.folds`` days of ``features``
    (Features rows with ``date``). ``train_fn`` trains a fold's challenger (default: train_router)."""
    train_fn = train_fn or (lambda frame: train_router(frame)[0])
    days = sorted(features["date"].unique().to_list())
    windows = fold_windows(days, settings.backtest.folds, settings.train.window_days, settings.backtest.embargo_days)
    if not windows:
        raise ValueError(f"not enough days for a walk-forward fold: {len(days)} day(s), "
                         f"embargo {settings.backtest.embargo_days}")
    all_stats = venue_day_stats(features)
    decisions, preds, ranks, folds = [], [], [], []
    for test_day, train_days in windows:
        challenger = train_fn(features.filter(pl.col("date").is_in(train_days)))
        test = features.filter(pl.col("date") == test_day)
        stats = all_stats.filter(pl.col("date") <= test_day)
        dec, scored = _fold(test, stats, challenger, champion, settings.router.static_waterfall)
        decisions.append(dec)
        for name, model in (("challenger", challenger), ("champion", champion)):
            if model is not None:
                preds.append(model.predict(test).select(
                    pl.lit(name).alias("model"), "venue", "filled", "arrival_slippage_bps", "p_fill", "slippage_bps"))
        if oracle is not None:
            o = oracle.filter(pl.col("child_id").is_in(dec["request_id"].implode()))
            ranks += [_ranking(sc, o, name) for name, sc in scored.items()]
        folds.append({"test_day": str(test_day), "train_start": str(train_days[0]), "train_end": str(train_days[-1]),
                      "train_days": len(train_days)})
    orders = pl.concat(decisions, how="diagonal_relaxed")
    source = "oracle" if oracle is not None else "dr"
    if oracle is not None:
        orders = _add_oracle(orders, oracle)
    ranking = pl.DataFrame(ranks).group_by("model").agg(
        pl.col("spearman").mean(), pl.col("top1_agreement").mean(), pl.col("n_requests").sum()).sort("model") \
        if ranks else pl.DataFrame(schema={"model": pl.String, "spearman": pl.Float64, "top1_agreement": pl.Float64})
    return BacktestResult(days=daily_costs(orders, source, champion is not None), orders=orders,
                          venue_metrics=venue_errors(pl.concat(preds, how="vertical_relaxed")),
                          ranking=ranking, cost_source=source, folds=folds)


def regret(result: BacktestResult) -> dict[str, float]:
    """Mean regret per order vs the oracle's best venue (bps, >= 0) per policy; NaN without oracle."""
    d = result.days
    out: dict[str, float] = {}
    for p in POLICIES:
        c = d[f"cost_{p}"]
        if result.cost_source != "oracle" or c.null_count() == d.height:
            out[p] = float("nan")
        else:
            w = d["n_requests"].to_numpy()
            out[p] = float(np.average((c - d["cost_oracle"]).to_numpy(), weights=w))
    return out
