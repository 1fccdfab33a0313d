"""Promotion gate: is the challenger's routing cost significantly lower than the champion's and the
static waterfall's, with no venue badly worse, on clean data?

Costs are per-day means of bps per order (+ = cost) from the walk-forward backtest; ``d_t`` =
challenger - baseline on day ``t`` (negative = challenger better). For a margin ``m``
(``settings.gate.min_margin_bps``) the one-sided hypotheses are H0: E[d] >= -m vs H1: E[d] < -m,
tested at ``settings.gate.alpha`` by BOTH

- a paired circular block bootstrap over days (block length ~ n^(1/3)): p = share of resampled
  means >= -m; the confidence interval is the (alpha, 1 - alpha) percentile interval of the mean;
- the Diebold-Mariano test over days with the Harvey-Leybourne-Newbold small-sample correction
  (one-step horizon, Student t with n - 1 degrees of freedom).

The reported p-value of a comparison is the larger of the two. Rules: data checks passed; challenger
beats static significantly; if a champion exists, challenger beats the champion significantly and no
venue's slippage MAE exceeds the champion's by more than ``settings.gate.max_venue_mae_ratio``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from sor_pipeline.config.settings import Settings


@dataclass
class Comparison:
    """Challenger vs one baseline over days. ``mean_diff_bps`` < 0 = challenger cheaper."""

    baseline: str
    n_days: int
    mean_diff_bps: float
    p_bootstrap: float
    p_dm: float
    p_value: float
    ci_low_bps: float
    ci_high_bps: float
    significant: bool


@dataclass
class GateVerdict:
    """The gate's decision and its evidence (logged to MLflow whatever the outcome)."""

    passed: bool
    baseline: str
    cost_source: str
    cost_diff_bps: float
    p_value: float
    reasons: list[str]
    vs_static: Comparison
    vs_champion: Comparison | None
    venue_mae_ratio: dict[str, float] = field(default_factory=dict)
    data_checks_ok: bool = True
    per_day: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metrics(self) -> dict[str, float]:
        """Flat numeric summary for MLflow metrics (NaN-free keys only)."""
        out = {"gate_passed": float(self.passed), "gate_p_value": self.p_value,
               "gate_cost_diff_bps": self.cost_diff_bps,
               "gate_vs_static_diff_bps": self.vs_static.mean_diff_bps, "gate_vs_static_p": self.vs_static.p_value}
        if self.vs_champion is not None:
            out.update(gate_vs_champion_diff_bps=self.vs_champion.mean_diff_bps,
                       gate_vs_champion_p=self.vs_champion.p_value)
        if self.venue_mae_ratio:
            out["gate_max_venue_mae_ratio"] = max(self.venue_mae_ratio.values())
        return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"


def block_bootstrap_means(diff: np.ndarray, n_samples: int, seed: int, block: int | None = None) -> np.ndarray:
    """Means of ``n_samples`` circular block bootstrap resamples of the day series ``diff``."""
    n = len(diff)
    b = block or max(1, round(n ** (1 / 3)))
    rng = np.random.default_rng(seed)
    n_blocks = int(np.ceil(n / b))
    starts = rng.integers(0, n, size=(n_samples, n_blocks))
    idx = (starts[:, :, None] + np.arange(b)[None, None, :]).reshape(n_samples, -1)[:, :n] % n
    return diff[idx].mean(axis=1)


def bootstrap_test(diff: np.ndarray, margin: float, alpha: float, n_samples: int,
                   seed: int) -> tuple[float, float, float]:
    """(p, ci_low, ci_high) of H0: mean(diff) >= -margin by the block bootstrap (bps)."""
    means = block_bootstrap_means(diff, n_samples, seed)
    p = (1 + int(np.sum(means >= -margin))) / (n_samples + 1)
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(p), float(lo), float(hi)


def diebold_mariano(diff: np.ndarray, margin: float) -> float:
    """One-sided DM p-value of H0: mean(diff) >= -margin (one-step horizon, HLN-corrected, t_{n-1})."""
    n = len(diff)
    d = diff + margin
    mean = float(d.mean())
    var = float(d.var(ddof=0)) / n if n > 1 else 0.0
    if var <= 1e-24:
        return 0.0 if mean < 0 else 1.0
    stat = mean / np.sqrt(var) * np.sqrt((n - 1) / n)
    return float(stats.t.cdf(stat, df=n - 1))


def compare(challenger: np.ndarray, baseline: np.ndarray, name: str, settings: Settings) -> Comparison:
    """Paired comparison of per-day costs (bps); rows with a missing value on either side are dropped."""
    ok = np.isfinite(challenger) & np.isfinite(baseline)
    diff = (challenger - baseline)[ok]
    if len(diff) == 0:
        return Comparison(name, 0, float("nan"), 1.0, 1.0, 1.0, float("nan"), float("nan"), False)
    margin, alpha = settings.gate.min_margin_bps, settings.gate.alpha
    p_b, lo, hi = bootstrap_test(diff, margin, alpha, settings.gate.bootstrap_samples, settings.seed)
    p_dm = diebold_mariano(diff, margin)
    p = max(p_b, p_dm)
    return Comparison(name, len(diff), float(diff.mean()), p_b, p_dm, p, lo, hi,
                      bool(p < alpha and diff.mean() < -margin))


def venue_mae_ratios(venue_metrics: pl.DataFrame) -> dict[str, float]:
    """Per venue: challenger slippage MAE / champion slippage MAE on the same test rows."""
    if venue_metrics.is_empty():
        return {}
    wide = venue_metrics.pivot(on="model", index="venue", values="slippage_mae_bps")
    if "challenger" not in wide.columns or "champion" not in wide.columns:
        return {}
    out: dict[str, float] = {}
    for venue, ch, cp in wide.select("venue", "challenger", "champion").iter_rows():
        if ch is not None and cp is not None and np.isfinite(ch) and np.isfinite(cp) and cp > 0:
            out[str(venue)] = float(ch / cp)
    return out


def evaluate_gate(days: pl.DataFrame, venue_metrics: pl.DataFrame, settings: Settings, *,
                  cost_source: str = "oracle", data_checks_ok: bool = True) -> GateVerdict:
    """Decide promotion from the backtest's per-day costs (``cost_static``, ``cost_challenger``,
    ``cost_champion`` — null when there is no champion) and per-venue prediction errors."""
    ch = days["cost_challenger"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    vs_static = compare(ch, days["cost_static"].cast(pl.Float64).fill_null(np.nan).to_numpy(), "static", settings)
    champ_col = days["cost_champion"] if "cost_champion" in days.columns else None
    has_champion = champ_col is not None and champ_col.null_count() < days.height
    vs_champion = compare(ch, champ_col.cast(pl.Float64).fill_null(np.nan).to_numpy(), "champion", settings) \
        if has_champion and champ_col is not None else None
    reasons: list[str] = []
    if not data_checks_ok:
        reasons.append("data checks failed")
    if not vs_static.significant:
        reasons.append(f"not significantly cheaper than static: diff {vs_static.mean_diff_bps:+.3f} bps, "
                       f"p {vs_static.p_value:.4f} (alpha {settings.gate.alpha}, "
                       f"margin {settings.gate.min_margin_bps})")
    ratios = venue_mae_ratios(venue_metrics) if vs_champion is not None else {}
    if vs_champion is not None:
        if not vs_champion.significant:
            reasons.append(f"not significantly cheaper than champion: diff {vs_champion.mean_diff_bps:+.3f} bps, "
                           f"p {vs_champion.p_value:.4f}")
        worse = {v: r for v, r in ratios.items() if r > settings.gate.max_venue_mae_ratio}
        if worse:
            listed = ", ".join(f"{v} {r:.2f}x" for v, r in worse.items())
            limit = settings.gate.max_venue_mae_ratio
            reasons.append(f"venue slippage MAE worse than champion beyond {limit}x: {listed}")
    primary = vs_champion if vs_champion is not None else vs_static
    return GateVerdict(
        passed=not reasons, baseline=primary.baseline, cost_source=cost_source,
        cost_diff_bps=primary.mean_diff_bps, p_value=primary.p_value, reasons=reasons or ["all checks passed"],
        vs_static=vs_static, vs_champion=vs_champion, venue_mae_ratio=ratios, data_checks_ok=data_checks_ok,
        per_day=[{k: (str(v) if k == "date" else v) for k, v in r.items()} for r in days.iter_rows(named=True)],
    )
