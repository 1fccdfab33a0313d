"""The logging router: exploration on top of a policy's ranking, then a waterfall of child orders.

Each request is worked rank by rank: an IOC (or, for LOW urgency on an ECN, a short passive DAY post)
child to the rank-1 venue, the unfilled remainder to rank 2 once the outcome is known, and so on; the
last resort is a lit sweep. Propensities: the rank-1 child logs (1-eps)*[venue == policy top] + eps/V,
later children log 1.0 (the rest of the order is deterministic given rank 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from sor_pipeline.features.labels import signed_slippage_bps
from sor_pipeline.serving.exploration import ExplorationParams, draw, rank1_probabilities, scout_params
from sor_pipeline.simulation.config import SimConfig
from sor_pipeline.simulation.policy import MarketState
from sor_pipeline.simulation.venue_model import URGENCY_MULT, market_nbbo, oracle_frame, price_venues

TS = pl.Datetime("ns", "UTC")
WINDOW_MULT = {"LOW": 3.0, "MEDIUM": 1.0, "HIGH": 0.25}
#: Time between the fills of successive book levels of one lit sweep, ns.
LEVEL_STEP_NS = 1_000


@dataclass
class RouteResult:
    child_orders: pl.DataFrame
    fills: pl.DataFrame
    oracle: pl.DataFrame


def route_order(requests: pl.DataFrame, ranking: pl.DataFrame, venues: list[str], params: ExplorationParams,
                rng: np.random.Generator, waterfall: list[str] | tuple[str, ...] = ()
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Venue order per request after exploration (the live router's, :mod:`sor_pipeline.serving.exploration`).

    Returns (order (n, V+0) venue indices, -1 = none; rank-1 propensity; explored flag;
    predicted cost (n, V) per venue index, NaN = none)."""
    n, nv = requests.height, len(venues)
    vidx = {v: i for i, v in enumerate(venues)}
    req_idx = requests.select("request_id").with_row_index("ri")
    r = (ranking.join(req_idx, on="request_id", how="inner")
         .filter(pl.col("venue").is_in(venues)).sort("ri", "rank", "venue"))
    ri = r["ri"].to_numpy().astype(np.int64)
    vi = r["venue"].replace_strict(vidx, return_dtype=pl.Int64).to_numpy()
    pos = r.select(pl.int_range(pl.len()).over("ri").alias("p"))["p"].to_numpy()
    order = np.full((n, nv), -1, dtype=np.int64)
    order[ri, pos] = vi
    pred = np.full((n, nv), np.nan)
    pred[ri, vi] = r["predicted_cost_bps"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    top = np.maximum(order[:, 0], 0)
    available = np.zeros((n, nv), dtype=bool)
    available[ri, vi] = True
    chosen, prop = draw(rank1_probabilities(pred, top, available, params, static_first(available, venues, waterfall)),
                        rng)
    explored = chosen != top
    new_order = order.copy()
    for i in np.nonzero(explored)[0]:  # the explored requests only; row-wise reorder is cheap here
        rest = [v for v in order[i] if v >= 0 and v != chosen[i]]
        new_order[i] = np.array([chosen[i], *rest, *([-1] * (nv - 1 - len(rest)))])[:nv]
    return new_order, prop, explored, pred


def static_first(available: np.ndarray, venues: list[str], waterfall: list[str] | tuple[str, ...]) -> np.ndarray:
    """(n,) index (in ``venues``) of the static waterfall's first available venue per request, -1 = none;
    an empty ``waterfall`` is ``venues`` in their order."""
    order = [venues.index(v) for v in (waterfall or venues) if v in venues]
    out = np.full(available.shape[0], -1, dtype=np.int64)
    for j in reversed(order):
        out = np.where(available[:, j], j, out)
    return out


def run_waterfall(config: SimConfig, requests: pl.DataFrame, ranking: pl.DataFrame, market: MarketState,
                  policy_name: str, rng: np.random.Generator, scouted: bool = False) -> RouteResult:
    """Simulate every request's waterfall; returns child_orders, fills and the oracle rows. ``scouted``:
    the ranking is the static waterfall's with a scout's predicted costs, which steer only exploration
    (:func:`sor_pipeline.serving.exploration.scout_params`)."""
    venues = [v.code for v in config.venues]
    vtypes = {v.code: v.venue_type for v in config.venues}
    lat_us = {v.code: float(v.latency_us) for v in config.venues}  # mixed int/float would break replace_strict
    lit = [i for i, v in enumerate(venues) if vtypes[v] == "LIT"]
    nv, n = len(venues), requests.height
    params = scout_params(config.exploration()) if scouted and config.exploration().enabled else config.exploration()
    order, prop1, explored, pred = route_order(requests, ranking, venues, params, rng, config.static_waterfall)
    remaining = requests["qty"].to_numpy().astype(np.int64).copy()
    next_ts = requests["decision_ts"].cast(pl.Int64).to_numpy().copy()
    req = requests.with_row_index("ri")
    children, fills, oracles = [], [], []
    for pos in range(nv + 1):
        col = order[:, pos] if pos < nv else np.full(n, -1)
        active = remaining > 0
        if not active.any():
            break
        ai = np.nonzero(active)[0]
        pts = req[ai.tolist()].select(
            (pl.col("request_id") + f"-{pos + 1}").alias("key"), "symbol", "side", pl.Series("qty", remaining[ai]),
            "urgency", pl.Series("ts", next_ts[ai]).cast(TS), "ri")
        priced = price_venues(pts.drop("ri"), market, config).join(pts.select("key", "ri"), on="key")
        venue_i = col[ai].copy()
        if (venue_i < 0).any() and lit:
            lit_cost = (priced.filter(pl.col("venue").is_in([venues[j] for j in lit]))
                        .sort("slippage_bps").group_by("ri", maintain_order=True).first())
            best = dict(zip(lit_cost["ri"].to_list(), lit_cost["venue"].to_list(), strict=True))
            venue_i = np.where(venue_i < 0, [venues.index(best.get(r, venues[lit[0]])) for r in ai], venue_i)
        sel = pl.DataFrame({"ri": ai.astype(np.uint32), "venue": np.array(venues)[venue_i]})
        chosen = priced.join(sel, on=["ri", "venue"], how="inner").sort("ri")
        oracles.append(oracle_frame(priced))
        kids, fl, filled, done = _execute(chosen, req, lat_us, config, market, rng)
        first = pos == 0
        kids = kids.with_columns(
            pl.lit(pos + 1, dtype=pl.Int64).alias("route_rank"),
            pl.Series("propensity", prop1[ai] if first else np.ones(ai.size)),
            pl.Series("predicted_cost_bps", pred[ai, venue_i]).fill_nan(None),
            pl.Series("router_policy", np.where(first & explored[ai], f"{policy_name}/explore", policy_name)),
        )
        children.append(kids)
        fills.append(fl)
        remaining[ai] -= filled
        next_ts[ai] = done + int(config.router_delay_us * 1e3)
    child_cols = ["child_id", "parent_id", "symbol", "side", "venue", "order_type", "tif", "limit_px", "qty",
                  "sent_ts", "router_policy", "route_rank", "propensity", "predicted_cost_bps", "status", "done_ts"]
    co = pl.concat(children).select(child_cols).sort("sent_ts", "child_id")
    fl_all = pl.concat(fills).sort("ts", "exec_id")
    return RouteResult(co, fl_all, pl.concat(oracles))


def guard_outcomes(result: RouteResult, ranking: pl.DataFrame, market: MarketState
                   ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """What the guard sees of a routed batch: per model-routed rank-1 child, its venue, whether it filled
    and its realised minus predicted slippage (bps, + = cost; NaN unless filled and predicted)."""
    kids = result.child_orders.filter((pl.col("route_rank") == 1) & pl.col("predicted_cost_bps").is_not_null())
    if kids.is_empty():
        return [], np.zeros(0, dtype=bool), np.zeros(0)
    per = result.fills.group_by("child_id").agg(
        pl.col("qty").sum().alias("q"), (pl.col("qty") * pl.col("px")).sum().alias("qpx"),
        (pl.col("qty") * pl.col("fee_bps")).sum().alias("qfee"))
    pred = ranking.select((pl.col("request_id") + "-1").alias("child_id"), "venue", "predicted_slippage_bps")
    k = (kids.join(per, on="child_id", how="left").join(pred, on=["child_id", "venue"], how="left")
         .with_columns(pl.col("q").fill_null(0)))
    mid = _mid_at(k.select("symbol", pl.col("sent_ts").alias("ts")), market)
    q = k["q"].to_numpy().astype(np.float64)
    filled = q > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        slip = signed_slippage_bps(np.where(k["side"].to_numpy() == "BUY", 1.0, -1.0),
                                     k["qpx"].fill_null(np.nan).to_numpy() / q, mid,
                                     k["qfee"].fill_null(np.nan).to_numpy() / q)
    excess = slip - k["predicted_slippage_bps"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    return k["venue"].to_list(), filled, np.where(filled, excess, np.nan)


def run_guarded(config: SimConfig, requests: pl.DataFrame, ranker: Callable[[np.ndarray], pl.DataFrame],
                observe: Callable[[list[str], np.ndarray, np.ndarray], object], market: MarketState,
                policy_name: str, rng: np.random.Generator) -> RouteResult:
    """:func:`run_waterfall` in decision-time buckets of ``config.feedback_interval_s``: each bucket is
    ranked by ``ranker`` (a row mask of ``requests`` -> ranking, scored as the router stands then) after
    ``observe`` received the outcomes of the buckets before it: the live router's intraday guard
    (:mod:`sor_pipeline.serving.guard`) sees what production would have seen by then."""
    step = max(1, int(config.feedback_interval_s * 1e9))
    bucket = (requests["decision_ts"].cast(pl.Int64) // step).to_numpy()
    parts: list[RouteResult] = []
    for b in np.unique(bucket):
        rank = ranker(bucket == b)
        res = run_waterfall(config, requests.filter(pl.Series(bucket == b)), rank, market, policy_name, rng)
        parts.append(res)
        observe(*guard_outcomes(res, rank, market))
    if not parts:
        return run_waterfall(config, requests, ranker(np.zeros(0, dtype=bool)), market, policy_name, rng)
    return RouteResult(pl.concat([p.child_orders for p in parts]).sort("sent_ts", "child_id"),
                       pl.concat([p.fills for p in parts]).sort("ts", "exec_id"),
                       pl.concat([p.oracle for p in parts]))


def _execute(chosen: pl.DataFrame, req: pl.DataFrame, lat_us: dict[str, float], config: SimConfig,
             market: MarketState, rng: np.random.Generator
             ) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray, np.ndarray]:
    """Realize one child per row of ``chosen`` (the :func:`price_venues` row of the routed venue).

    Returns child rows (without rank/propensity), fill rows, filled qty and done time (UTC ns)."""
    m = chosen.height
    vt = chosen["venue_type"].to_numpy()
    liq = chosen["liquidity"].to_numpy()
    r = req[chosen["ri"].to_numpy().astype(np.int64).tolist()]
    sent = chosen["ts"].cast(pl.Int64).to_numpy()
    rem = chosen["qty"].to_numpy().astype(np.int64)
    cap = chosen["avail_sz"].to_numpy().astype(np.int64)
    lat_mean = chosen["venue"].replace_strict(lat_us, return_dtype=pl.Float64).to_numpy()
    lat = (lat_mean * 1e3 * (config.latency_floor + rng.exponential(config.latency_jitter_mean, m))).astype(np.int64)
    urg = r["urgency"].to_numpy()
    window = np.select([urg == "LOW", urg == "HIGH"], [WINDOW_MULT["LOW"], WINDOW_MULT["HIGH"]], 1.0)
    rejected = (vt != "LIT") & (rng.random(m) < config.reject_p)
    hit = (rng.random(m) < chosen["p_event"].to_numpy()) & ~rejected
    frac = np.where(rng.random(m) < config.dark_full_fill_share, 1.0,
                    rng.uniform(config.dark_partial_min_share, 1.0, m))
    dark_q = np.maximum(1, np.floor(frac * rem)).astype(np.int64)
    filled = np.select([vt == "DARK", vt == "ECN"], [np.where(hit, dark_q, 0), np.where(hit, cap, 0)], rem)
    filled = np.minimum(filled, rem).astype(np.int64)
    dark_w = (config.dark_window_s * window * 1e9).astype(np.int64)
    pass_w = int(config.passive_window_s * 1e9)
    u = rng.random(m)
    fill_ts = np.select([vt == "DARK", liq == "ADD"], [sent + lat + (u * dark_w).astype(np.int64),
                                                      sent + lat + (u * pass_w).astype(np.int64)], sent + lat)
    done = np.select([rejected, vt == "DARK", liq == "ADD", vt == "LIT"],
                     [sent + lat, np.where(filled == rem, fill_ts, sent + lat + dark_w),
                      np.where(filled > 0, fill_ts, sent + lat + pass_w), fill_ts + LEVEL_STEP_NS * 6], fill_ts)
    status = np.select([rejected, filled == rem, filled > 0], ["REJECTED", "FILLED", "PARTIAL"], "CANCELLED")
    kids = pl.DataFrame({
        "child_id": chosen["key"], "parent_id": r["parent_id"], "symbol": r["symbol"], "side": r["side"],
        "venue": chosen["venue"], "order_type": r["order_type"], "tif": chosen["tif"], "limit_px": r["limit_px"],
        "qty": rem, "sent_ts": pl.Series(sent).cast(TS), "status": status, "done_ts": pl.Series(done).cast(TS),
    })
    mid_fill = _mid_at(chosen.select("symbol", pl.Series("ts", fill_ts).cast(TS)), market)
    mid_fill = np.where(np.isfinite(mid_fill), mid_fill, chosen["mid"].to_numpy())
    fills = _fills(chosen, r, vt, filled, fill_ts, mid_fill, rng, config.dark_adverse_noise_bps)
    return kids, fills, filled, done


def _mid_at(points: pl.DataFrame, market: MarketState) -> np.ndarray:
    """NBBO mid at or before each point's ts (NaN when none), in the points' order."""
    nb = market_nbbo(market).filter(pl.col("flag").is_null()).select("ts", "symbol", "mid_px").sort("ts")
    p = points.with_row_index("__i").sort("ts")
    j = p.join_asof(nb, on="ts", by="symbol", strategy="backward", check_sortedness=False).sort("__i")
    return j["mid_px"].fill_null(np.nan).to_numpy()


def _fills(chosen: pl.DataFrame, r: pl.DataFrame, vt: np.ndarray, filled: np.ndarray, fill_ts: np.ndarray,
           mid_fill: np.ndarray, rng: np.random.Generator, noise_bps: float) -> pl.DataFrame:
    """Fill rows: one per non-LIT filled child; one per book level (and impact remainder) for LIT."""
    s = np.where(r["side"].to_numpy() == "BUY", 1.0, -1.0)
    adverse = chosen["adverse_bps"].to_numpy() + rng.normal(0.0, noise_bps, chosen.height) * (vt == "DARK")
    px = np.where(vt == "DARK", mid_fill * (1.0 + s * adverse / 1e4), chosen["px_ref"].to_numpy())
    one = (vt != "LIT") & (filled > 0)
    single = pl.DataFrame({
        "child_id": chosen["key"].filter(pl.Series(one)), "j": np.zeros(one.sum(), dtype=np.int64),
        "ts": fill_ts[one], "qty": filled[one], "px": px[one],
        "liquidity": chosen["liquidity"].filter(pl.Series(one)), "fee_bps": chosen["fee_bps"].filter(pl.Series(one)),
    })
    lit = pl.Series(vt == "LIT")
    lv = chosen.filter(lit).select(
        pl.col("key").alias("child_id"), pl.Series("t0", fill_ts[vt == "LIT"]), "liquidity", "fee_bps",
        pl.col("lvl_px").arr.to_list(), pl.col("lvl_qty").arr.to_list(),
    ).with_columns(pl.int_ranges(0, pl.col("lvl_qty").list.len()).alias("j")).explode("lvl_px", "lvl_qty", "j")
    lv = lv.filter(pl.col("lvl_qty") > 0).select(
        "child_id", "j", (pl.col("t0") + pl.col("j") * LEVEL_STEP_NS).alias("ts"), pl.col("lvl_qty").alias("qty"),
        pl.col("lvl_px").alias("px"), "liquidity", "fee_bps")
    out = pl.concat([single, lv], how="vertical_relaxed")
    return out.select(
        pl.concat_str([pl.col("child_id"), pl.lit("-F"), pl.col("j").cast(pl.Utf8)]).alias("exec_id"),
        "child_id", pl.col("ts").cast(TS), pl.col("qty").cast(pl.Int64), pl.col("px").cast(pl.Float64),
        "liquidity", pl.col("fee_bps").cast(pl.Float64))


__all__ = ["URGENCY_MULT", "RouteResult", "guard_outcomes", "route_order", "run_guarded", "run_waterfall"]
