"""The night's decision: which policy routes tomorrow — the challenger, the champion, the previous
champion or the static waterfall — from the walk-forward backtest's logged decisions only (never the
simulator's truth).

Evidence (:mod:`sor_pipeline.learning.ope`): per-decision SN-DR terms of every policy over the last
``settings.backtest.folds`` days; paired differences clustered by parent order, days as strata; levels
corrected for the nightly looks (spent over looks for promotion, Bonferroni over a horizon for
demotion); confidence-sequence bounds are logged beside them.

- **promote** the challenger when (challenger - incumbent) is significantly below ``-gate.min_margin_bps``
  (one-sided, clustered z) at the night's spent level ``alpha_k = gate.alpha * 6 / (pi^2 k^2)``, ``k`` the
  number of nights the incumbent has faced a challenger (1 on the night after an alias move, and on
  the night a venue's adverse regime change begins): an explicit correction for the nightly looks at
  the same incumbent in the same regime, whose levels sum to ``gate.alpha``.
  The incumbent is the champion, or the static waterfall when there is none.
  Also required: data checks passed (ingest and monitor), enough support for the challenger (effective
  sample size of its weights >= ``gate.min_ess``), no venue's slippage MAE above
  ``gate.max_venue_mae_ratio`` x the champion's, and the challenger no costlier than static (point
  estimate) over the last ``gate.demote_days`` days: a shift that began there is not averaged away by
  the longer window (measured: a challenger cheaper than a failing champion, both costlier than static
  since a pool turned toxic, was promoted and cost +0.65 bps/decision for two more days).
  After a venue's regime change the comparison with the incumbent uses the test days after its first
  day; on the night of that first day, when none follows, the backtest's *intraday fold* (fold models
  trained with the day's earlier parent orders, scoring its later ones) is what is judged, for the
  incumbent and for the static check alike: the day's own fold model was trained before the change.
- **demote** the champion (tomorrow routes static) when, not promoting, (champion - static) over the
  last ``gate.demote_days`` backtest days (where a shift shows first; only those from a venue's regime
  change on when it began inside them, :func:`recent_test_days`) is significantly above 0: one-sided
  clustered z at ``gate.demote_alpha / gate.demote_horizon_nights`` per night, an explicit (Bonferroni)
  correction so that a champion no costlier than static is falsely demoted with probability at most
  ``gate.demote_alpha`` over that many nightly looks. Static is the safe default, so demotion acts on
  weaker evidence than promotion; a demotion resets the looks so that the next challenger faces static
  at the full first level. The static waterfall's choice is evaluable because the live router gives it
  a share of every model-routed draw (``router.explore_static_share``). When the previous champion
  was significantly cheaper than the champion on those days too, and no costlier than static there,
  the previous champion routes instead (``demote_to = "previous"``): every candidate — challenger,
  champion, previous champion, static — can be tomorrow's router.
- **inconclusive** when the logs cannot support an off-policy verdict (no propensities, too little
  support): nothing moves, and the reason names the remedy.
- **keep** otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from sor_pipeline.config.settings import Settings
from sor_pipeline.learning.ope import PairedEstimate, effective_sample_size, paired

Action = Literal["promote", "keep", "demote", "inconclusive"]
NO_PROPENSITY_REMEDY = ("the logs carry no propensities, so no off-policy verdict is possible: turn on the live "
                        "router's exploration (router.explore) so that every decision logs its probability")


@dataclass
class GateVerdict:
    """The night's decision and its evidence (logged to MLflow whatever the outcome)."""

    action: Action
    baseline: str
    cost_source: str
    cost_diff_bps: float
    p_value: float
    reasons: list[str]
    vs_incumbent: PairedEstimate | None
    vs_static: PairedEstimate | None
    champion_vs_static: PairedEstimate | None
    ess: dict[str, float] = field(default_factory=dict)
    venue_mae_ratio: dict[str, float] = field(default_factory=dict)
    data_checks_ok: bool = True
    per_day: list[dict[str, Any]] = field(default_factory=list)
    #: Where a demoted champion's traffic goes: ``static`` or ``previous`` (the previous champion).
    demote_to: str = ""
    champion_vs_previous: PairedEstimate | None = None

    @property
    def passed(self) -> bool:
        return self.action == "promote"

    @property
    def demote(self) -> bool:
        return self.action == "demote"

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else ("inconclusive" if self.action == "inconclusive" else "fail")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}

    def metrics(self) -> dict[str, float]:
        """Flat numeric summary for MLflow metrics (finite values only)."""
        out: dict[str, float] = {"gate_passed": float(self.passed), "gate_demoted": float(self.demote),
                                 "gate_p_value": self.p_value, "gate_cost_diff_bps": self.cost_diff_bps}
        for name, est in (("vs_incumbent", self.vs_incumbent), ("vs_static", self.vs_static),
                          ("champion_vs_static", self.champion_vs_static)):
            if est is not None:
                out.update({f"gate_{name}_diff_bps": est.mean_diff_bps, f"gate_{name}_se_bps": est.se_bps,
                            f"gate_{name}_cs_high_bps": est.cs_high_bps, f"gate_{name}_cs_low_bps": est.cs_low_bps})
        out.update({f"ess_{k}": v for k, v in self.ess.items()})
        if self.venue_mae_ratio:
            out["gate_max_venue_mae_ratio"] = max(self.venue_mae_ratio.values())
        return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


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


def _pair(orders: pl.DataFrame, a: str, b: str, alpha: float, settings: Settings,
          margin: float = 0.0) -> PairedEstimate:
    diff = (orders[f"dr_{a}"] - orders[f"dr_{b}"]).cast(pl.Float64).fill_null(np.nan).to_numpy()
    return paired(a, b, diff, orders["parent_id"].to_numpy(), orders["date"].cast(pl.String).to_numpy(), alpha,
                  settings.gate.cs_rho, margin)


def _has(orders: pl.DataFrame, policy: str) -> bool:
    col = f"dr_{policy}"
    return col in orders.columns and orders[col].fill_nan(None).null_count() < orders.height


def costlier_p_value(est: PairedEstimate) -> float:
    """One-sided p-value of H0: mean(A - B) <= 0 against "A costlier than B" (clustered z)."""
    if est.n == 0 or not np.isfinite(est.mean_diff_bps):
        return 1.0
    if not est.se_bps > 0:
        return 0.0 if est.mean_diff_bps > 0 else 1.0
    return float(stats.norm.sf(est.mean_diff_bps / est.se_bps))


def recent_test_days(test_days: list[date], demote_days: int, shift_start: date | None) -> list[date]:
    """The days demotion (and the promotion's static check) look at: the last ``demote_days`` test days,
    or only those from ``shift_start`` on when a venue's regime changed inside them — the old regime's
    days would average the new cost away for ``demote_days`` more nights (measured: a champion routing
    to a pool that turned toxic cost +0.9 bps/decision over static on the shift's first day and was
    demoted only the night after the second)."""
    recent = test_days[-demote_days:]
    if shift_start is not None:
        post = [d for d in test_days if d >= shift_start]
        if post and len(post) < len(recent):
            return post
    return recent


def new_regime_days(test_days: list[date], shift_start: date | None) -> list[date]:
    """The test days promotion judges the challenger against the incumbent on: all of them, or only those
    after ``shift_start`` when a venue's regime changed inside them. Those are the days whose walk-forward
    fold model was trained with the new regime's first day; the old regime's days measure how both
    policies did in a market that is gone (measured with the intraday guard on: a challenger that had
    learned a pool turned toxic was 0.43 bps cheaper than the champion over all five test days, p 0.014 at
    look 2, and promoted a night later, while the guard-protected champion captured a quarter of the
    static-to-oracle gap)."""
    if shift_start is None:
        return test_days
    post = [d for d in test_days if d > shift_start]
    return post if post else test_days


def _since(days: list[date], test_days: list[date]) -> str:
    return f", over the {len(days)} day(s) since the shift" if len(days) < len(test_days) else ""


def look_alpha(alpha: float, look: int) -> float:
    """The level spent on the ``look``-th night at the same incumbent: ``alpha 6 / (pi^2 look^2)``."""
    return alpha * 6.0 / (math.pi**2 * max(1, look) ** 2)


def evaluate_gate(orders: pl.DataFrame, venue_metrics: pl.DataFrame, settings: Settings, *,
                  cost_source: str = "dr", data_checks_ok: bool = True,
                  per_day: pl.DataFrame | None = None, look: int = 1,
                  shift_start: date | None = None, intraday: pl.DataFrame | None = None) -> GateVerdict:
    """Decide from the backtest's per-decision ``orders`` (``dr_<policy>``, ``w_<policy>``, ``parent_id``,
    ``date``) and per-venue prediction errors; see the module docstring. ``shift_start``: the first day
    of a venue's adverse regime change found in the logged outcomes (:mod:`sor_pipeline.learning.shifts`),
    if any: when it falls inside the recent days, the recent comparisons start there. ``intraday``: the
    decisions of the backtest's intraday fold (the later part of ``shift_start``'s day, scored by fold
    models that trained on its earlier part): when no test day follows the change, the challenger is
    judged against the incumbent, and against static, on those."""
    g = settings.gate
    has_champion = _has(orders, "champion")
    incumbent = "champion" if has_champion else "static"
    days = [{k: (str(v) if k == "date" else v) for k, v in r.items()} for r in per_day.iter_rows(named=True)] \
        if per_day is not None else []
    ess = {p: effective_sample_size(orders[f"w_{p}"].to_numpy()) for p in ("challenger", "champion", "static",
                                                                            "previous")
           if f"w_{p}" in orders.columns and _has(orders, p)}
    if cost_source == "none":
        return GateVerdict("inconclusive", incumbent, cost_source, float("nan"), float("nan"), [NO_PROPENSITY_REMEDY],
                           None, None, None, ess, {}, data_checks_ok, days)
    level = look_alpha(g.alpha, look)
    test_days = sorted(orders["date"].unique().to_list())
    new_regime = new_regime_days(test_days, shift_start)
    later_part = (intraday if intraday is not None and intraday.height and shift_start is not None
                  and _has(intraday, incumbent) and not any(d > shift_start for d in test_days) else None)
    judged = later_part if later_part is not None else orders.filter(pl.col("date").is_in(new_regime))
    since = (", on the later parent orders of the shift's first day" if later_part is not None
             else _since(new_regime, test_days))
    vs_inc = _pair(judged, "challenger", incumbent, level, settings, g.min_margin_bps)
    vs_static = vs_inc if incumbent == "static" else _pair(orders, "challenger", "static", g.alpha, settings)
    recent_days = recent_test_days(test_days, g.demote_days, shift_start)
    recent = orders.filter(pl.col("date").is_in(recent_days))
    demote_level = g.demote_alpha / g.demote_horizon_nights
    champ_static = _pair(recent, "champion", "static", demote_level, settings) if has_champion else None
    ratios = venue_mae_ratios(venue_metrics) if has_champion else {}
    reasons: list[str] = []
    if not data_checks_ok:
        reasons.append("data checks failed (ingest or monitor): nothing moves on suspect data")
    if ess.get("challenger", 0.0) < g.min_ess:
        reasons.append(f"too little support for the challenger: effective sample size "
                       f"{ess.get('challenger', 0.0):.0f} < {g.min_ess:.0f} (more exploration or more days needed)")
    support_ok = ess.get("challenger", 0.0) >= g.min_ess
    significant = vs_inc.p_value < level and vs_inc.mean_diff_bps < -g.min_margin_bps
    if support_ok and not significant:
        reasons.append(f"not significantly cheaper than the {incumbent}: diff {vs_inc.mean_diff_bps:+.3f} bps "
                       f"(se {vs_inc.se_bps:.3f}, p {vs_inc.p_value:.4f} >= {level:.4f}, look {look}, "
                       f"margin {g.min_margin_bps}{since})")
    # the challenger's fold model of a shift's first day was trained before it (walk-forward): it could
    # not have learned the new regime, so the check uses the recent days after it when there are any
    seen = [d for d in recent_days if shift_start is not None and d > shift_start] or recent_days
    recent_vs_static = _pair(later_part if later_part is not None else orders.filter(pl.col("date").is_in(seen)),
                             "challenger", "static", demote_level, settings)
    if support_ok and significant and recent_vs_static.mean_diff_bps > 0:
        where = ("on the later part of the shift's first day" if later_part is not None
                 else f"over the last {len(seen)} day(s)")
        reasons.append(f"costlier than the static waterfall {where}: "
                       f"{recent_vs_static.mean_diff_bps:+.3f} bps (se {recent_vs_static.se_bps:.3f}); a shift "
                       f"may have begun that the longer window averages away")
    worse = {v: r for v, r in ratios.items() if r > g.max_venue_mae_ratio}
    if worse:
        listed = ", ".join(f"{v} {r:.2f}x" for v, r in worse.items())
        reasons.append(f"venue slippage MAE worse than champion beyond {g.max_venue_mae_ratio}x: {listed}")
    champ_prev = (_pair(recent, "champion", "previous", demote_level, settings)
                  if has_champion and _has(recent, "previous") else None)
    prev_static = _pair(recent, "previous", "static", demote_level, settings) if champ_prev is not None else None
    action: Action
    demote_to = ""
    if not reasons:
        action, reasons = "promote", [f"challenger cheaper than the {incumbent} by {-vs_inc.mean_diff_bps:.3f} bps "
                                      f"per decision (se {vs_inc.se_bps:.3f}, p {vs_inc.p_value:.2g} < "
                                      f"{level:.4f}, look {look}{since})"]
    elif data_checks_ok and ess.get("champion", 0.0) >= g.min_ess and (demotion := _demotion(
            champ_static, champ_prev, prev_static, demote_level, len(recent_days),
            ess.get("previous", 0.0) >= g.min_ess)):
        action, demote_to = "demote", demotion[0]
        reasons.append(demotion[1])
    elif not support_ok and data_checks_ok:
        action = "inconclusive"
    else:
        action = "keep"
    return GateVerdict(action, incumbent, cost_source, vs_inc.mean_diff_bps, vs_inc.p_value, reasons, vs_inc,
                       vs_static, champ_static, ess, ratios, data_checks_ok, days, demote_to=demote_to,
                       champion_vs_previous=champ_prev)


def _demotion(champ_static: PairedEstimate | None, champ_prev: PairedEstimate | None,
              prev_static: PairedEstimate | None, level: float, n_days: int,
              prev_supported: bool) -> tuple[str, str] | None:
    """Where a champion goes when it is significantly costlier (at ``level``) on the recent days than the
    static waterfall or than the previous champion: ``("previous", why)`` when the previous champion beat
    it and is itself no costlier than static there (point estimate), else ``("static", why)``; None
    when neither comparison is significant."""
    def costlier(est: PairedEstimate | None) -> bool:
        return est is not None and costlier_p_value(est) < level

    def said(est: PairedEstimate, what: str) -> str:
        bound = est.mean_diff_bps - float(stats.norm.isf(level)) * est.se_bps
        return (f"champion costlier than {what} by {est.mean_diff_bps:+.3f} bps over the last {n_days} day(s) "
                f"(se {est.se_bps:.3f}, p {costlier_p_value(est):.2g} < {level:.4f}; lower bound {bound:+.3f})")

    prev_ok = (prev_supported and champ_prev is not None and prev_static is not None
               and np.isfinite(prev_static.mean_diff_bps) and prev_static.mean_diff_bps <= 0.0)
    if costlier(champ_prev) and prev_ok:
        assert champ_prev is not None and prev_static is not None
        return "previous", (f"{said(champ_prev, 'the previous champion')}; the previous champion is no costlier "
                            f"than static there ({prev_static.mean_diff_bps:+.3f} bps): it routes again")
    if costlier(champ_static):
        assert champ_static is not None
        return "static", f"{said(champ_static, 'the static waterfall')}: static routes"
    return None
