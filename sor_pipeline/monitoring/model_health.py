"""Model health of the champion on one day's logs (``category`` = ``model``).

The scoring callable ``score(frame) -> frame`` comes from the trainer/registry (e.g.
``RouterModel.score``): it takes candidate rows ``request_id, child_id, venue, venue_type,
FEATURE_COLUMNS...`` and returns them (rows of unknown venues may be dropped) with ``p_fill``,
``slippage_bps`` (expected arrival slippage given a fill, bps, + = cost) and ``expected_cost_bps``.
Every child of the day is a request scored at every venue of the day: the logged venue with its own
features, the others with that venue's trailing statistics (``venue_*_20d``, constant per venue/day).

Sign convention: **bias = predicted - realized** (bps). Negative bias = the model predicted a lower
cost than was realized (optimistic); positive = pessimistic.

Realized cost of a child (bps, + = cost) = fill_ratio * arrival_slippage_bps + (1 - fill_ratio) *
fallback, where fallback = the cost of sweeping that child on the lit market at its sent time (the
displayed books and the day's square-root impact, :mod:`sor_pipeline.learning.lit_fallback`), else the
day's mean realized slippage of filled LIT children, else the model's ``fallback_bps``.

Checks:
- ``model_slippage_bias`` per venue: mean(slippage_bps - arrival_slippage_bps) over filled children.
- ``model_cost_bias`` per venue: mean(expected_cost_bps - realized cost) over all children.
- ``model_fill_calibration`` per venue: mean(p_fill) - realized fill rate (share, signed).
- ``model_brier`` per venue: mean((p_fill - filled)^2).
- ``champion_vs_static``: off-policy cost of the champion's choice minus the static waterfall's, over
  route_rank == 1 children, self-normalised inverse propensity weighting (SNIPS) with the logged
  propensities; bps, negative = the champion is cheaper. Plain IPW values are in the message.
- ``router_fallback``: share of parent orders with a child whose router_policy contains "fallback".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from schemas import FEATURE_COLUMNS
from sor_pipeline.config.monitor import MonitorSettings
from sor_pipeline.learning.costs import realized_cost_expr
from sor_pipeline.monitoring.schema import grade, result

MODEL = "model"
ScoreFn = Callable[[pl.DataFrame], pl.DataFrame]
VENUE_COLUMNS = [c for c in FEATURE_COLUMNS if c.startswith("venue_")]
REQUEST_COLUMNS = [c for c in FEATURE_COLUMNS if c not in VENUE_COLUMNS]


def candidates(features: pl.DataFrame) -> pl.DataFrame:
    """One row per (child, venue of the day): ``request_id`` (= child_id), ``logged`` (bool), the
    request's features and the venue's ``venue_type`` and trailing statistics."""
    venues = (features.group_by("venue").agg(pl.col("venue_type").drop_nulls().first(),
                                             *[pl.col(c).drop_nulls().first() for c in VENUE_COLUMNS])
              .sort("venue"))
    req = features.select(pl.col("child_id").alias("request_id"), pl.col("venue").alias("logged_venue"),
                          *REQUEST_COLUMNS)
    cross = req.join(venues, how="cross").with_columns((pl.col("venue") == pl.col("logged_venue")).alias("logged"))
    # the logged venue keeps the child's own venue features
    own = features.select(pl.col("child_id").alias("request_id"), "venue", *VENUE_COLUMNS)
    cross = cross.join(own, on=["request_id", "venue"], how="left", suffix="_own").with_columns(
        [pl.coalesce(f"{c}_own", c).alias(c) for c in VENUE_COLUMNS]).drop([f"{c}_own" for c in VENUE_COLUMNS])
    return cross.with_columns(pl.col("request_id").alias("child_id")).drop("logged_venue")


def scored_children(features: pl.DataFrame, score: ScoreFn, fallback: pl.DataFrame | None = None
                    ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(logged rows with labels + predictions + ``realized_cost_bps``, all scored candidate rows).
    ``fallback`` (child_id, fallback_bps: :func:`sor_pipeline.learning.lit_fallback.lit_fallback`) prices
    a child's unfilled share at what sweeping it on the lit market would have cost; children without
    one use the day's mean lit slippage."""
    scored = score(candidates(features))
    keep = ["request_id", "venue", "p_fill", "slippage_bps", "expected_cost_bps"]
    if "fallback_bps" in scored.columns:
        keep.append("fallback_bps")
    scored = scored.select(keep)
    lit = features.filter((pl.col("venue_type") == "LIT") & (pl.col("filled") == 1))
    lit_mean = lit.get_column("arrival_slippage_bps").mean() if lit.height else None
    fallback_default = (pl.lit(float(lit_mean)) if lit_mean is not None  # type: ignore[arg-type]
                        else pl.col("fallback_bps") if "fallback_bps" in scored.columns
                        else pl.col("expected_cost_bps"))
    logged = (features.with_columns(pl.col("child_id").alias("request_id"))
              .join(scored, on=["request_id", "venue"], how="inner"))
    if fallback is not None:
        keys = ["date", "child_id"] if "date" in fallback.columns and "date" in logged.columns else ["child_id"]
        logged = logged.join(fallback.select(*keys, pl.col("fallback_bps").alias("_book_fb")), on=keys, how="left")
        fb_expr = pl.coalesce(pl.col("_book_fb"), fallback_default)
    else:
        fb_expr = fallback_default
    logged = logged.with_columns(realized_cost_expr(fb_expr).alias("realized_cost_bps")).drop("_book_fb", strict=False)
    return logged, scored


def _per_venue_rows(logged: pl.DataFrame, cfg: MonitorSettings) -> list[dict[str, Any]]:
    rows = []
    for (venue,), part in logged.partition_by("venue", as_dict=True, maintain_order=True).items():
        v = str(venue)
        if part.height < cfg.model_min_rows:
            rows.append(result("model_cost_bias", MODEL, venue=v,
                               message=f"{v}: {part.height} scored children, too few for model checks"))
            continue
        filled = part.filter(pl.col("filled") == 1)
        if filled.height >= cfg.model_min_rows:
            bias = float((filled["slippage_bps"] - filled["arrival_slippage_bps"]).mean())  # type: ignore[arg-type]
            sev, ok, _ = grade(abs(bias), cfg.model_bias_warn_bps, None)
            rows.append(result("model_slippage_bias", MODEL, severity=sev, passed=ok, value=bias,
                               threshold=cfg.model_bias_warn_bps, venue=v, subject="slippage_bps",
                               message=f"{v}: predicted - realized slippage {bias:+.2f} bps over {filled.height} "
                                       "fills (- = model optimistic)"))
        cost_bias = float((part["expected_cost_bps"] - part["realized_cost_bps"]).mean())  # type: ignore[arg-type]
        sev, ok, _ = grade(abs(cost_bias), cfg.model_bias_warn_bps, None)
        rows.append(result("model_cost_bias", MODEL, severity=sev, passed=ok, value=cost_bias,
                           threshold=cfg.model_bias_warn_bps, venue=v, subject="expected_cost_bps",
                           message=f"{v}: predicted - realized cost {cost_bias:+.2f} bps over {part.height} "
                                   "children (- = model optimistic)"))
        p, y = part["p_fill"].to_numpy(), part["filled"].cast(pl.Float64).to_numpy()
        gap = float(np.mean(p) - np.mean(y))
        sev, ok, _ = grade(abs(gap), cfg.fill_calibration_warn, None)
        rows.append(result("model_fill_calibration", MODEL, severity=sev, passed=ok, value=gap,
                           threshold=cfg.fill_calibration_warn, venue=v, subject="p_fill",
                           message=f"{v}: mean p_fill {np.mean(p):.3f} vs fill rate {np.mean(y):.3f} ({gap:+.3f})"))
        brier = float(np.mean((p - y) ** 2))
        sev, ok, _ = grade(brier, cfg.brier_warn, None)
        rows.append(result("model_brier", MODEL, severity=sev, passed=ok, value=brier, threshold=cfg.brier_warn,
                           venue=v, subject="p_fill", message=f"{v}: Brier score of p_fill {brier:.4f}"))
    return rows


def policy_values(logged: pl.DataFrame, scored: pl.DataFrame, static_waterfall: list[str]) -> dict[str, float]:
    """Off-policy values (bps, + = cost) over route_rank == 1 children: ``ipw_*`` = mean(1[match] c / p),
    ``snips_*`` = sum(1[match] c / p) / sum(1[match] / p), for ``champion`` and ``static``; ``n`` requests,
    ``matched_*`` requests where the logged venue is the policy's choice."""
    first = logged.filter(pl.col("route_rank") == 1)
    champ = (scored.sort("expected_cost_bps").group_by("request_id").agg(pl.col("venue").first().alias("champion")))
    order = {v: i for i, v in enumerate(static_waterfall)}
    static = (scored.select("request_id", "venue")
              .with_columns(pl.col("venue").replace_strict(order, default=len(order)).alias("_rank"))
              .sort("_rank", "venue").group_by("request_id").agg(pl.col("venue").first().alias("static")))
    f = first.join(champ, on="request_id", how="left").join(static, on="request_id", how="left")
    c, p = f["realized_cost_bps"].to_numpy(), f["propensity"].to_numpy()
    out: dict[str, float] = {"n": float(f.height)}
    for name in ("champion", "static"):
        m = (f["venue"] == f[name]).fill_null(False).to_numpy().astype(np.float64)
        w = m / p
        out[f"matched_{name}"] = float(m.sum())
        out[f"ipw_{name}"] = float(np.sum(w * c) / f.height) if f.height else float("nan")
        out[f"snips_{name}"] = float(np.sum(w * c) / np.sum(w)) if np.sum(w) > 0 else float("nan")
    return out


def check_champion_vs_static(logged: pl.DataFrame, scored: pl.DataFrame, static_waterfall: list[str],
                             cfg: MonitorSettings) -> dict[str, Any]:
    """``champion_vs_static``: SNIPS cost difference champion - static, bps (negative = champion cheaper)."""
    v = policy_values(logged, scored, static_waterfall)
    if min(v["matched_champion"], v["matched_static"]) < cfg.model_min_rows:
        return result("champion_vs_static", MODEL, message=(
            f"too few logged choices matching each policy (champion {v['matched_champion']:.0f}, static "
            f"{v['matched_static']:.0f} of {v['n']:.0f}): no off-policy verdict"))
    diff = v["snips_champion"] - v["snips_static"]
    sev, ok, _ = grade(diff, cfg.champion_vs_static_warn_bps, None)
    return result("champion_vs_static", MODEL, severity=sev, passed=ok, value=diff,
                  threshold=cfg.champion_vs_static_warn_bps, subject="expected_cost_bps", message=(
                      f"champion - static {diff:+.2f} bps (SNIPS: champion {v['snips_champion']:.2f}, static "
                      f"{v['snips_static']:.2f}; IPW: {v['ipw_champion']:.2f} vs {v['ipw_static']:.2f}; "
                      f"{v['n']:.0f} requests; - = champion cheaper)"))


def check_router_fallback(children: pl.DataFrame, cfg: MonitorSettings) -> dict[str, Any]:
    """``router_fallback``: share of parent orders with any child logged with a 'fallback' policy."""
    per_parent = children.group_by("parent_id").agg(
        pl.col("router_policy").str.contains("fallback", literal=True).any().alias("fb"))
    n = per_parent.height
    k = int(per_parent["fb"].sum()) if n else 0
    share = k / n if n else 0.0
    sev, ok, thr = grade(share, cfg.router_fallback_warn_share, cfg.router_fallback_error_share)
    return result("router_fallback", MODEL, severity=sev, passed=ok, value=share, threshold=thr,
                  subject="router_policy", message=f"router fell back on {k} of {n} parent orders ({share:.2%})")


def model_rows(features: pl.DataFrame | None, children: pl.DataFrame | None, score: ScoreFn | None,
               static_waterfall: list[str], cfg: MonitorSettings,
               fallback: pl.DataFrame | None = None) -> list[dict[str, Any]]:
    """All model-health rows; info rows when inputs are missing."""
    rows: list[dict[str, Any]] = []
    if children is not None and children.height:
        rows.append(check_router_fallback(children, cfg))
    if score is None:
        rows.append(result("model_health", MODEL, message="no scoring callable: model checks skipped"))
        return rows
    if features is None or features.height == 0:
        rows.append(result("model_health", MODEL, message="no features for the day: model checks skipped"))
        return rows
    logged, scored = scored_children(features, score, fallback)
    rows += _per_venue_rows(logged, cfg)
    rows.append(check_champion_vs_static(logged, scored, static_waterfall, cfg))
    return rows
