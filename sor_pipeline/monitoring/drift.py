"""Drift: population stability index (PSI) of features and per-venue outcomes vs a reference window.

PSI = sum_b (cur_b - ref_b) * ln(cur_b / ref_b) over bins b, with shares floored at ``epsilon`` (empty
bins). Bins are fixed from the reference: edges at its deciles (``psi_bins`` quantiles, duplicates
dropped, so a binary feature has 2-3 bins), open-ended at both sides; nulls get a bin of their own.
Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift. PSI is unitless, >= 0.

Checks (``category`` = ``drift``, ``subject`` = the column):
- ``psi_feature``: each column of FEATURE_COLUMNS, all venues pooled.
- ``psi_outcome``: per venue, ``arrival_slippage_bps`` (filled children, bps) and ``filled`` (0/1).
The reference window is the champion's training window (a date range of the ``features`` dataset,
the day itself excluded); default: the ``Settings.train.window_days`` partitions before the day.

Thresholds are calibrated on the reference window itself: a quiet market's days differ from one another
by more than sampling noise (each day draws its own symbols, sizes and spreads; the ``*_20d`` venue
statistics move a little every day and take one value per venue, so their PSI is never small), and a
fixed 0.1 cries wolf on such columns. So each reference day is scored against the other reference days
(leave one day out), and the warn threshold of a column is the upper ``psi_calibration_quantile``
prediction bound of one more such PSI (log-normal, Student t over the reference days), never below
``psi_warn`` (the severe one scales alike, never below ``psi_error``). A column
that is stable day to day keeps the textbook 0.1; one that swings keeps only swings larger than any the
reference makes likely. With fewer than ``psi_calibration_min_days`` reference days a dated reference
gives an info row (no verdict: a quiet day's PSI is not known yet); an undated one the fixed thresholds.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from schemas import FEATURE_COLUMNS
from sor_pipeline.config.monitor import MonitorSettings
from sor_pipeline.monitoring.schema import result
from sor_pipeline.storage.lake import Lake

DRIFT = "drift"
OUTCOMES = ("arrival_slippage_bps", "filled")


def quantile_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges from the reference quantiles (k/bins, k=1..bins-1), distinct and sorted."""
    ref = reference[~np.isnan(reference)]
    if ref.size == 0:
        return np.array([], dtype=np.float64)
    return np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def _shares(values: np.ndarray, edges: np.ndarray, with_null: bool) -> np.ndarray:
    nan = np.isnan(values)
    idx = np.searchsorted(edges, values[~nan], side="left")  # bin i = (edges[i-1], edges[i]]
    counts = np.bincount(idx, minlength=edges.size + 1).astype(np.float64)
    if with_null:
        counts = np.append(counts, float(nan.sum()))
    return counts / max(values.size, 1)


def _floats(values: np.ndarray | pl.Series) -> np.ndarray:
    """``values`` as float64 numpy, null -> NaN."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    return np.asarray(pl.Series(values).cast(pl.Float64).fill_null(np.nan).to_numpy(), dtype=np.float64)


def psi(reference: np.ndarray | pl.Series, current: np.ndarray | pl.Series, *, bins: int = 10,
        epsilon: float = 1e-4) -> float:
    """PSI of ``current`` against ``reference`` (nulls/NaN in their own bin), bins from reference quantiles."""
    ref, cur = _floats(reference), _floats(current)
    edges = quantile_edges(ref, bins)
    with_null = bool(np.isnan(ref).any() or np.isnan(cur).any())
    e = np.clip(_shares(ref, edges, with_null), epsilon, None)
    a = np.clip(_shares(cur, edges, with_null), epsilon, None)
    return float(np.sum((a - e) * np.log(a / e)))


def default_reference(lake: Lake, day: date, window_days: int) -> tuple[date, date] | None:
    """The last ``window_days`` features partitions before ``day`` as (start, end), or None."""
    days = [d for d in lake.dates("features") if d < day][-window_days:]
    return (days[0], days[-1]) if days else None


def reference_psis(ref: pl.Series, days: pl.Series | None, cfg: MonitorSettings) -> list[float]:
    """PSI of each reference day's values against the other reference days' (leave one day out): how
    far a quiet day drifts from the rest by chance. Days with fewer than ``drift_min_rows`` values are
    skipped; empty without ``days``."""
    if days is None:
        return []
    values = _floats(ref)  # converted once; each day's split is a numpy mask (same values, same order)
    codes = days.rank("dense").cast(pl.Int64).to_numpy()  # 1 = the earliest day
    out = []
    for k in range(1, int(codes.max()) + 1 if codes.size else 1):
        mask = codes == k
        one, rest = values[mask], values[~mask]
        if min(one.size, rest.size) >= cfg.drift_min_rows:
            out.append(psi(rest, one, bins=cfg.psi_bins, epsilon=cfg.psi_epsilon))
    return out


def thresholds(null: list[float], cfg: MonitorSettings) -> tuple[float, float | None, str]:
    """(warn, severe, how). Below ``psi_calibration_min_days`` reference PSIs: the fixed ``psi_warn`` /
    ``psi_error``. Else the upper ``psi_calibration_quantile`` prediction bound of one more quiet day's
    PSI, with log PSI taken as normal over the reference days: exp(m + t(q, n-1) s sqrt(1 + 1/n)) (m, s:
    mean and sd of the n log PSIs; Student t, so few reference days give a wide bound), never below
    ``psi_warn``; the severe threshold keeps the fixed ratio psi_error / psi_warn to it."""
    n = len(null)
    if n < cfg.psi_calibration_min_days:
        return cfg.psi_warn, cfg.psi_error, f"fixed threshold {cfg.psi_warn:g}"
    # PSIs below psi_warn / 4 are sampling noise of a stable column: their scatter in log space (1e-5 vs
    # 1e-3) says nothing about a quiet day, so they count as psi_warn / 4
    logs = np.log(np.clip(np.asarray(null, dtype=np.float64), cfg.psi_warn / 4, None))
    sd = float(logs.std(ddof=1))
    bound = float(np.exp(logs.mean() + sps.t.ppf(cfg.psi_calibration_quantile, n - 1) * sd * np.sqrt(1 + 1 / n)))
    warn = max(cfg.psi_warn, bound)
    severe = None if cfg.psi_error is None else max(cfg.psi_error, warn * cfg.psi_error / max(cfg.psi_warn, 1e-12))
    return warn, severe, (f"threshold {warn:.3f}: {cfg.psi_calibration_quantile:.0%} bound of a quiet day, "
                          f"from {n} reference days' day-vs-rest PSI (max {max(null):.3f})")


def _grade(value: float, warn: float, severe: float | None, cfg: MonitorSettings) -> tuple[str, bool, float]:
    if severe is not None and value >= severe:
        return cfg.drift_severe_severity, cfg.drift_severe_severity == "info", severe
    if value >= warn:
        return "warn", False, warn
    return "info", True, warn


def _psi_row(check: str, column: str, ref: pl.Series, cur: pl.Series, cfg: MonitorSettings,
             venue: str | None = None, ref_days: pl.Series | None = None) -> dict[str, Any]:
    where = f"{column}" + (f"@{venue}" if venue else "")
    n_ref, n_cur = ref.len(), cur.len()  # nulls count: a feature turning null is drift (own bin)
    if min(n_ref, n_cur) < cfg.drift_min_rows:
        return result(check, DRIFT, venue=venue, subject=column, threshold=cfg.psi_warn,
                      message=f"{where}: {n_cur} values today, {n_ref} in reference; too few for PSI")
    value = psi(ref, cur, bins=cfg.psi_bins, epsilon=cfg.psi_epsilon)
    null = reference_psis(ref, ref_days, cfg)
    warn, severe, how = thresholds(null, cfg)
    if ref_days is not None and len(null) < cfg.psi_calibration_min_days:
        return result(check, DRIFT, value=value, threshold=warn, venue=venue, subject=column, message=(
            f"{where}: PSI {value:.3f} vs reference; {len(null)} reference day(s) with enough rows, too few to "
            f"know a quiet day's PSI (need {cfg.psi_calibration_min_days}): no verdict"))
    sev, passed, thr = _grade(value, warn, severe, cfg)
    word = "stable" if passed else "drifted"
    return result(check, DRIFT, severity=sev, passed=passed, value=value, threshold=thr, venue=venue,
                  subject=column, message=f"{where}: PSI {value:.3f} vs reference ({word}; {how}; "
                                          f"{n_cur} today, {n_ref} reference)")


def drift_rows(current: pl.DataFrame, reference: pl.DataFrame, cfg: MonitorSettings) -> list[dict[str, Any]]:
    """PSI rows for the day's features frame against the reference features frame (thresholds
    calibrated per column when the reference has a ``date`` column; see the module docstring)."""
    rows = []
    days = reference.get_column("date") if "date" in reference.columns else None
    for col in FEATURE_COLUMNS:
        if col in current.columns and col in reference.columns:
            rows.append(_psi_row("psi_feature", col, reference.get_column(col), current.get_column(col), cfg,
                                 ref_days=days))
    # the outcome columns only, split by venue once (not the whole wide frame filtered per venue)
    narrow = ["venue", *OUTCOMES]
    cur_by = current.select(narrow).partition_by("venue", as_dict=True)
    ref_by = reference.select(narrow + (["date"] if days is not None else [])).partition_by("venue", as_dict=True)
    for venue in sorted(set(current.get_column("venue").to_list())):
        cur_v = cur_by[(venue,)]
        ref_v = ref_by.get((venue,), reference.select(narrow).clear())
        if ref_v.height == 0:
            rows.append(result("psi_outcome", DRIFT, venue=venue, message=f"{venue}: not in the reference window"))
            continue
        slip = "arrival_slippage_bps"
        ref_f = ref_v.filter(pl.col("filled") == 1)
        rows.append(_psi_row("psi_outcome", slip, ref_f.get_column(slip),
                             cur_v.filter(pl.col("filled") == 1).get_column(slip), cfg, venue,
                             ref_f.get_column("date") if days is not None else None))
        rows.append(_psi_row("psi_outcome", "filled", ref_v.get_column("filled"), cur_v.get_column("filled"),
                             cfg, venue, ref_v.get_column("date") if days is not None else None))
    return rows


def drift_checks(day: date, lake: Lake, reference: tuple[date, date] | None, cfg: MonitorSettings,
                 *, window_days: int = 20) -> list[dict[str, Any]]:
    """All drift checks for ``day``; info rows when the day's features or a reference are missing."""
    if not lake.exists("features", day):
        return [result("drift", DRIFT, message=f"no features partition for {day.isoformat()}: drift skipped")]
    ref_window = reference or default_reference(lake, day, window_days)
    if ref_window is None:
        return [result("drift", DRIFT, message="no reference window (no earlier features): drift skipped")]
    cols = ["venue", *FEATURE_COLUMNS, *OUTCOMES]
    ref = (lake.read("features", start=ref_window[0], end=ref_window[1]).filter(pl.col("date") != day)
           .select("date", *cols).collect())
    if ref.height == 0:
        return [result("drift", DRIFT, message=f"reference window {ref_window[0]}..{ref_window[1]} is empty: "
                                               "drift skipped")]
    cur = lake.read("features", [day]).select(cols).collect()
    return drift_rows(cur, ref, cfg)
