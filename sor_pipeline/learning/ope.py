"""Off-policy estimates of a routing policy's cost from logged routing decisions, as the literature does it.

A logged decision ``i`` (the rank-1 child order of one routing request) was sent to venue ``a_i`` with
the logging router's probability ``p_i`` (its reported propensity) and realised cost ``r_i`` (bps,
+ = cost, model-free: :func:`sor_pipeline.learning.costs.realized_cost_expr` with the day's observed
lit-sweep cost for the unfilled remainder). For a deterministic target policy ``pi`` choosing
``pi(x_i)``, with ``m_i = 1{a_i == pi(x_i)}`` and importance weight ``w_i = min(m_i / p_i, w_max)``:

- self-normalised doubly-robust (SN-DR) term of decision i, on a day with mean weight ``w_bar``:
  ``q(x_i, pi(x_i)) + (w_i / w_bar) * (r_i - q(x_i, a_i))``; the day's estimate is their mean.
  ``q`` is a reward model's predicted expected cost, **cross-fitted**: fitted on other days than the
  one it scores, and never the model being judged (:mod:`sor_pipeline.learning.backtest`).
- effective sample size of the weights ``(sum w)^2 / sum w^2``, and support: the share of decisions
  where the policy's choice is the logged venue (``m_i = 1``).

Comparisons are paired per decision (``d_i`` = term of policy A - term of policy B), clustered by
parent order (children of one parent are not independent), days as strata. Because the nightly looks
every night, the bounds come from a **confidence sequence** for the mean (Robbins' normal mixture,
valid under repeated looks; :func:`cs_radius`), used where the same hypothesis is looked at night after
night (demotion); the one-sided clustered-z p-value is reported beside them and used by the gate with
an explicit spending of its level over looks (:func:`sor_pipeline.learning.gate.look_alpha`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats


def clipped_weights(match: np.ndarray, propensity: np.ndarray, w_max: float) -> np.ndarray:
    """``min(1{match} / p, w_max)``; a null or non-positive propensity gives weight 0."""
    p = np.asarray(propensity, dtype=np.float64)
    ok = np.asarray(match, dtype=bool) & np.isfinite(p) & (p > 0)
    return np.where(ok, np.minimum(1.0 / np.where(ok, p, 1.0), w_max), 0.0)


def sn_dr_terms(cost: np.ndarray, q_logged: np.ndarray, q_target: np.ndarray, weights: np.ndarray,
                day: np.ndarray) -> np.ndarray:
    """Per-decision SN-DR terms (bps): ``q_target + w / mean_day(w) * (cost - q_logged)``."""
    w = np.asarray(weights, dtype=np.float64)
    norm = pl.DataFrame({"day": day, "w": w}).select(pl.col("w").mean().over("day"))["w"].to_numpy()
    scale = np.divide(w, norm, out=np.zeros_like(w), where=norm > 0)
    return np.asarray(q_target, dtype=np.float64) + scale * (np.asarray(cost) - np.asarray(q_logged))


def ess_expr(weights: str) -> pl.Expr:
    """Effective sample size of a weight column: ``(sum w)^2 / sum w^2`` (0 when every weight is 0)."""
    s2 = (pl.col(weights) ** 2).sum()
    return pl.when(s2 > 0).then(pl.col(weights).sum() ** 2 / s2).otherwise(0.0)


def effective_sample_size(weights: np.ndarray) -> float:
    return float(pl.DataFrame({"w": np.asarray(weights, dtype=np.float64)}).select(ess_expr("w")).item())


def cluster_mean_se(values: np.ndarray, clusters: np.ndarray, strata: np.ndarray) -> tuple[float, float, int]:
    """(mean, standard error, n) of ``values`` with clusters (parent orders) nested in strata (days):
    the stratified cluster-robust variance of the overall mean."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), 0
    frame = pl.DataFrame({"v": v, "c": clusters, "s": strata})
    mean = float(v.mean())
    # per-cluster sums of deviations from the stratum mean; variance of the total within strata
    dev = frame.with_columns((pl.col("v") - pl.col("v").mean().over("s")).alias("e"))
    # sorted groups: a hash group-by's order varies between runs, and sums in another order differ in
    # the last bits (seen: a resumed night's p-value 1 ulp off the straight night's)
    per = dev.group_by("s", "c").agg(pl.col("e").sum().alias("e")).sort("s", "c")
    g = per.group_by("s", maintain_order=True).agg(pl.len().alias("g"), (pl.col("e") ** 2).sum().alias("ss"))
    var_total = float(sum(ss * gi / (gi - 1) for gi, ss in g.select("g", "ss").iter_rows() if gi > 1))
    se = math.sqrt(var_total) / n
    return mean, se, n


def cs_radius(se: float, n: int, alpha: float, rho: float) -> float:
    """One-sided radius of Robbins' normal-mixture confidence sequence for a mean, at level ``alpha``:
    valid simultaneously over every look. With ``V = n^2 se^2`` (variance of the sum),
    the sum's boundary is ``sqrt((V + rho) * ln((V + rho) / (rho * alpha^2)))``; divided by n for the
    mean. ``rho`` (in squared bps x decisions) sets the sample size where it is tightest."""
    if n == 0 or not np.isfinite(se):
        return float("inf")
    v = (n * se) ** 2
    return math.sqrt((v + rho) * math.log((v + rho) / (rho * alpha**2))) / n


@dataclass
class PairedEstimate:
    """Policy A minus policy B over the same decisions, bps per decision (< 0 = A cheaper)."""

    a: str
    b: str
    n: int
    mean_diff_bps: float
    se_bps: float
    cs_low_bps: float
    cs_high_bps: float
    p_value: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired(a: str, b: str, diff: np.ndarray, clusters: np.ndarray, strata: np.ndarray, alpha: float,
           rho: float, margin: float = 0.0) -> PairedEstimate:
    """Mean paired difference with its clustered SE, confidence-sequence bounds at ``alpha`` (each side)
    and the one-sided p-value of H0: mean >= -margin (clustered z)."""
    ok = np.isfinite(diff)
    mean, se, n = cluster_mean_se(diff[ok], clusters[ok], strata[ok])
    if n == 0:
        return PairedEstimate(a, b, 0, float("nan"), float("nan"), float("-inf"), float("inf"), 1.0)
    r = cs_radius(se, n, alpha, rho)
    p = float(stats.norm.cdf((mean + margin) / se)) if se > 0 else (0.0 if mean + margin < 0 else 1.0)
    return PairedEstimate(a, b, n, mean, se, mean - r, mean + r, p)
