"""Router performance: the ML router vs the static waterfall (and vs the oracle on simulated data).

Costs in bps, + = cost. A child's policy comes from ``router_policy``: ``static``, ``model:<version>`` (ML) or
any policy ending in ``/explore`` (exploration, reported apart). Two views:

- realized: mean arrival slippage of filled child orders per policy and day (orders differ between
  policies, so this comparison is descriptive);
- oracle (only when the lake has ``sim_oracle``): per rank-1 routing decision of the ML router, the oracle
  expected cost of the first static-waterfall venue (static), of the venue chosen (routed) and of the best
  venue (oracle), via :func:`sor_pipeline.simulation.metrics.daily_policy_costs` — the same decisions priced
  three ways, so the comparison is causal.

Significance: paired t-test over days (two-sided, scipy ``ttest_rel``) of static − ML daily means, with a
95% percentile bootstrap interval of the mean daily difference (resampling days; seeded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from sor_pipeline.config.settings import Settings
from sor_pipeline.reporting.data import ReportData
from sor_pipeline.reporting.tables import BPS, INT, PCT, Table, describe
from sor_pipeline.simulation.metrics import daily_policy_costs

POLICY = (pl.when(pl.col("router_policy").str.ends_with("/explore")).then(pl.lit("explore"))
          .when(pl.col("router_policy").str.starts_with("model:")).then(pl.lit("ml"))
          .when(pl.col("router_policy") == "static").then(pl.lit("static")).otherwise(pl.lit("other")))
BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class PairedTest:
    """Paired comparison over days of ``a`` − ``b`` daily means (bps; > 0 = ``b`` cheaper)."""

    label: str
    n_days: int
    mean_diff_bps: float | None
    t_stat: float | None
    p_value: float | None
    boot_low: float | None
    boot_high: float | None
    method: str = "paired t-test over days (two-sided) + 95% bootstrap CI of the mean daily difference"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def paired_test(label: str, a: np.ndarray, b: np.ndarray, seed: int) -> PairedTest:
    """Paired t-test and percentile bootstrap (``BOOTSTRAP_SAMPLES`` resamples of days, ``seed``) of a − b."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = ~np.isnan(a - b)
    a, b = a[keep], b[keep]
    d = a - b
    n = int(d.size)
    if n == 0:
        return PairedTest(label, 0, None, None, None, None, None)
    mean = float(d.mean())
    if n < 2 or float(d.std(ddof=1)) == 0.0:
        return PairedTest(label, n, mean, None, None, None, None)
    res = sps.ttest_rel(a, b)
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))].mean(axis=1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return PairedTest(label, n, mean, float(res.statistic), float(res.pvalue), float(lo), float(hi))


def policy_table(data: ReportData) -> Table:
    """Per policy: child orders, routed / filled shares, fill rate, arrival slippage (mean, 95% CI)."""
    t = data.tca_child.with_columns(POLICY.alias("policy")) if not data.tca_child.is_empty() else None
    rows = []
    for pol in ("ml", "static", "explore", "other"):
        sub = t.filter(pl.col("policy") == pol) if t is not None else None
        if sub is None or sub.is_empty():
            continue
        d = describe(sub["arrival_slippage_bps"])
        rows.append({"policy": pol, "child_orders": sub.height, "routed_shares": int(sub["qty"].sum()),
                     "filled_shares": int(sub["filled_qty"].sum()),
                     "fill_rate": float(sub["filled_qty"].sum()) / max(int(sub["qty"].sum()), 1),
                     "filled_orders": d["n"], "mean_slippage_bps": d["mean"], "ci_low": d["ci_low"],
                     "ci_high": d["ci_high"]})
    schema = {"policy": pl.String, "child_orders": pl.Int64, "routed_shares": pl.Int64, "filled_shares": pl.Int64,
              "fill_rate": pl.Float64, "filled_orders": pl.Int64, "mean_slippage_bps": pl.Float64,
              "ci_low": pl.Float64, "ci_high": pl.Float64}
    frame = pl.DataFrame(rows, schema=schema)
    return Table("policy_costs", "Realized arrival slippage by routing policy (bps, + = cost)", frame,
                 formats={c: INT for c in ("child_orders", "routed_shares", "filled_shares", "filled_orders")}
                 | {"fill_rate": PCT, "mean_slippage_bps": BPS, "ci_low": BPS, "ci_high": BPS},
                 labels={"mean_slippage_bps": "mean slippage", "ci_low": "95% CI low", "ci_high": "95% CI high"},
                 notes=("ml = model:<version>; explore = exploration routes (/explore); descriptive: the "
                        "policies routed different orders.",))


def daily_realized(data: ReportData) -> pl.DataFrame:
    """date x policy mean arrival slippage (bps) of filled child orders, wide: date, ml, static."""
    if data.tca_child.is_empty():
        return pl.DataFrame(schema={"date": pl.Date, "ml": pl.Float64, "static": pl.Float64})
    long = (data.tca_child.with_columns(POLICY.alias("policy"))
            .filter(pl.col("policy").is_in(["ml", "static"]) & pl.col("arrival_slippage_bps").is_not_null())
            .group_by("date", "policy").agg(pl.col("arrival_slippage_bps").mean().alias("cost")))
    out = pl.DataFrame({"date": sorted(data.tca_child["date"].unique().to_list())}, schema={"date": pl.Date})
    for pol in ("ml", "static"):
        out = out.join(long.filter(pl.col("policy") == pol).select("date", pl.col("cost").alias(pol)),
                       on="date", how="left")
    return out.sort("date")


def daily_oracle(data: ReportData, settings: Settings) -> pl.DataFrame:
    """Per day: n, static, routed (ML decisions), oracle, regret_bps; empty without ``sim_oracle``."""
    schema = {"date": pl.Date, "n": pl.Int64, "static": pl.Float64, "routed": pl.Float64, "oracle": pl.Float64,
              "regret_bps": pl.Float64}
    if data.oracle.is_empty():
        return pl.DataFrame(schema=schema)
    ml = data.children.with_columns(POLICY.alias("policy")).filter(pl.col("policy") == "ml")
    rows = []
    for day in data.days:
        kids = ml.filter(pl.col("date") == day)
        orc = data.oracle.filter(pl.col("date") == day)
        if kids.is_empty() or orc.is_empty():
            continue
        r = daily_policy_costs(kids, orc, list(settings.router.static_waterfall))
        rows.append({"date": day, "n": int(r["n"]), **{k: None if math.isnan(r[k]) else r[k]
                                                        for k in ("static", "routed", "oracle", "regret_bps")}})
    return pl.DataFrame(rows, schema=schema)


def performance(data: ReportData, settings: Settings) -> tuple[list[Table], dict[str, Any]]:
    """Tables (policy costs, daily realized, daily oracle) and the tests, as a JSON-ready dict."""
    tables = [policy_table(data)]
    realized = daily_realized(data)
    tests: dict[str, Any] = {}
    both = realized.drop_nulls()
    tests["realized"] = paired_test("static − ML, realized arrival slippage", both["static"].to_numpy(),
                                    both["ml"].to_numpy(), settings.seed).as_dict()
    tables.append(Table("daily_realized", "Daily mean arrival slippage, ML vs static (bps, + = cost)",
                        realized.with_columns((pl.col("static") - pl.col("ml")).alias("static_minus_ml")),
                        formats={"ml": BPS, "static": BPS, "static_minus_ml": BPS},
                        labels={"static_minus_ml": "static − ML"}))
    oracle = daily_oracle(data, settings)
    if not oracle.is_empty():
        tests["oracle"] = paired_test("static − ML, oracle expected cost", oracle["static"].to_numpy(),
                                      oracle["routed"].to_numpy(), settings.seed).as_dict()
        gap = oracle.select((pl.col("static") - pl.col("oracle")).mean()).item()
        won = oracle.select((pl.col("static") - pl.col("routed")).mean()).item()
        tests["captured_gap_share"] = None if not gap else float(won) / float(gap)
        tables.append(Table("daily_oracle", "Oracle expected cost per rank-1 ML routing decision (bps, + = cost)",
                            oracle, formats={"n": INT} | {c: BPS for c in ("static", "routed", "oracle", "regret_bps")},
                            labels={"n": "decisions", "routed": "ML routed", "regret_bps": "regret"},
                            notes=("static = first static-waterfall venue, routed = venue the ML router chose, "
                                   "oracle = best venue, all priced by the simulator's true expected cost.",)))
    return tables, tests
