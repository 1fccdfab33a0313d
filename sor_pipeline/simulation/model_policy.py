"""The live router's scoring as a simulator RoutingPolicy, so the nightly loop can run closed:
route (sim) -> log -> retrain -> promote -> route again with the new champion.

:class:`ModelPolicy` batch-ranks the sim's requests: features from the batch definitions
(:func:`sor_pipeline.features.decision_features`, point-in-time at each ``decision_ts``; venue trailing
stats and ADV from ``market.history`` when it is a Lake), then the same scorer as
:class:`~sor_pipeline.serving.live.LiveRouter` (compiled kernel). Every market venue gets a rank 1..V per
request: model-scored venues by expected cost (bps, + = cost), then venues the model does not know in
static order (``predicted_cost_bps`` null). A request whose scores are non-finite is ranked by the static
waterfall with null predicted costs and counted in ``fallbacks``; when the model is missing altogether
every request is and ``name`` becomes ``model:<version>/fallback``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.features.decision import decision_features
from sor_pipeline.features.history import adv_before, venue_stats_before
from sor_pipeline.features.online import ALL_FEATURES
from sor_pipeline.serving.compiled import Scores
from sor_pipeline.serving.live import LiveRouter
from sor_pipeline.simulation.policy import RANKING_SCHEMA, MarketState, RoutingPolicy, StaticWaterfall
from sor_pipeline.simulation.venue_model import market_nbbo
from sor_pipeline.storage.lake import Lake

log = logging.getLogger(__name__)
_DEPTH_COLS = ["ts", "symbol", "venue", *[f"{s}_sz_{k}" for s in ("bid", "ask") for k in range(1, 6)]]


class ModelPolicy:
    """RoutingPolicy over a LiveRouter's model. ``name``: ``model:<version>`` (``.../fallback`` when the
    model is unusable); ``fallbacks``: requests ranked by the static waterfall so far."""

    def __init__(self, router: LiveRouter, settings: Settings | None = None) -> None:
        self.router = router
        self.settings = settings or Settings()
        self.fallbacks = 0
        self.ranked = 0
        base = f"model:{router.version or 'local'}"
        self.name = base if router.ready else f"{base}/fallback"

    def _history(self, market: MarketState) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
        lake = market.history
        if not isinstance(lake, Lake):
            return None, None
        s = self.settings
        return (venue_stats_before(lake, market.date, s.features.venue_stats_window_days),
                adv_before(lake, market.date, s.features.adv_window_days))

    def _static_order(self, market_venues: list[str]) -> list[str]:
        known = [v for v in self.router.static_waterfall if v in market_venues]
        return known + [v for v in market_venues if v not in known]

    def features(self, requests: pl.DataFrame, market: MarketState) -> np.ndarray:
        """(n, V, F) feature tensor in the router's venue order (batch definitions)."""
        venues = pl.DataFrame({"venue": self.router.venues, "venue_type": self.router.venue_types})
        stats, adv = self._history(market)
        depth = market.depth.select([c for c in _DEPTH_COLS if c in market.depth.columns])
        feats = decision_features(requests, market_nbbo(market), depth, venues, stats, adv,
                                  rvol_window_s=float(self.settings.features.realized_vol_window_s),
                                  timezone=self.settings.market.timezone)
        x = feats.select([pl.col(c).cast(pl.Float64) for c in ALL_FEATURES]).to_numpy()
        return x.reshape(requests.height, len(self.router.venues), len(ALL_FEATURES))

    def rank(self, requests: pl.DataFrame, market: MarketState) -> pl.DataFrame:
        """One row per (request_id, market venue): rank 1..V and predicted_cost_bps (see module doc)."""
        return self.ranker(requests, market)(np.ones(requests.height, dtype=bool))

    def ranker(self, requests: pl.DataFrame, market: MarketState) -> Callable[[np.ndarray], pl.DataFrame]:
        """Features of every request built once; the returned function ranks the requests of a row mask
        with the scorer as it stands when called (so the intraday guard's charges made in between count:
        :meth:`observe`). Its ranking adds ``predicted_slippage_bps`` (the model's, before any charge)."""
        market_venues = market.venues["venue"].to_list()
        x: np.ndarray | None = None
        if self.router.scorer is not None and requests.height:
            try:
                x = self.features(requests, market)
            except Exception:
                log.exception("ModelPolicy: features failed; static waterfall for this batch")

        def rank(mask: np.ndarray) -> pl.DataFrame:
            return self._rank(requests.filter(pl.Series(mask)), None if x is None else x[mask], market_venues)

        return rank

    def observe(self, venues: list[str], filled: np.ndarray, excess_bps: np.ndarray) -> dict[str, float]:
        """Outcomes of model-routed rank-1 children to the live router's intraday guard; its charges now."""
        return self.router.observe(venues, filled, excess_bps)

    def new_day(self, day: date | None = None) -> None:
        """A session of ``day`` starts (a trading day or another symbol group of it): the router's guard
        starts from the evidence carried into that morning (None: from nothing)."""
        self.router.new_day(day)

    def end_day(self) -> None:
        """The session ended: the router checkpoints its guard for the next one (:meth:`LiveRouter.end_day`)."""
        self.router.end_day()

    def _rank(self, requests: pl.DataFrame, x: np.ndarray | None, market_venues: list[str]) -> pl.DataFrame:
        static = self._static_order(market_venues)
        n = requests.height
        self.ranked += n
        ids = requests["request_id"].to_list()
        schema = {**RANKING_SCHEMA, "predicted_slippage_bps": pl.Float64()}
        if n == 0:
            return pl.DataFrame(schema=schema)
        rows: dict[str, list[Any]] = {"request_id": [], "venue": [], "rank": [], "predicted_cost_bps": [],
                                      "predicted_slippage_bps": []}
        scorer = self.router.scorer
        bad = np.ones(n, dtype=bool)
        sc: Scores | None = None
        if scorer is not None and x is not None:
            try:
                sc = scorer.score(x)
                bad = sc.bad
            except Exception:
                log.exception("ModelPolicy: scoring failed; static waterfall for this batch")
        n_bad = int(bad.sum())
        if n_bad:
            self.fallbacks += n_bad
            self.router.stats.fallbacks += n_bad
            log.warning("ModelPolicy %s: %d of %d requests ranked by the static waterfall", self.name, n_bad, n)
        venues = self.router.venues
        scored = [v for v in venues if v in market_venues]
        for i, rid in enumerate(ids):
            if bad[i] or sc is None:
                order, costs, slips = static, [None] * len(static), [None] * len(static)
            else:
                ranked = [venues[j] for j in sc.order[i].tolist() if venues[j] in market_venues]
                cost = dict(zip(venues, sc.expected_cost_bps[i].tolist(), strict=True))
                slip = dict(zip(venues, sc.slippage_bps[i].tolist(), strict=True))
                rest = [v for v in static if v not in scored]
                order = ranked + rest
                costs = [cost[v] for v in ranked] + [None] * len(rest)
                slips = [slip[v] for v in ranked] + [None] * len(rest)
            rows["request_id"].extend([rid] * len(order))
            rows["venue"].extend(order)
            rows["rank"].extend(range(1, len(order) + 1))
            rows["predicted_cost_bps"].extend(costs)
            rows["predicted_slippage_bps"].extend(slips)
        return pl.DataFrame(rows, schema=schema)


class ScoutedStatic:
    """The static waterfall routes; a scout model's predicted costs ride along on its ranking and steer
    only the exploration (the live router's scout mode; :func:`sor_pipeline.serving.exploration.scout_params`).
    ``name`` is ``static``: what routed is the static waterfall."""

    scouted = True

    def __init__(self, scout: ModelPolicy, waterfall: list[str]) -> None:
        self.scout = scout
        self.waterfall = list(waterfall)
        self.name = "static"

    def rank(self, requests: pl.DataFrame, market: MarketState) -> pl.DataFrame:
        ranked = self.scout.rank(requests, market)
        order = {v: i for i, v in enumerate(self.waterfall)}
        big = len(order)
        return (ranked.with_columns(pl.col("venue").replace_strict(order, default=big, return_dtype=pl.Int64)
                                    .alias("_s"))
                .sort("request_id", "_s", "rank")
                .with_columns(pl.int_range(1, pl.len() + 1).over("request_id").cast(ranked.schema["rank"])
                              .alias("rank"))
                .drop("_s").select(ranked.columns))


def load_policy(settings: Settings, version: str | None = None) -> RoutingPolicy:
    """ModelPolicy on the champion (or the pinned ``version``); without a champion the static waterfall,
    scouted by the newest registered challenger when exploration is on (:class:`ScoutedStatic`), plain
    when there is none yet or the registry cannot be reached. Never raises."""
    try:
        from sor_pipeline.storage import registry  # lazy: MLflow is imported only when a policy is loaded

        if version is None and registry.champion_version(settings) is None:
            scout = registry.latest_version(settings) if settings.router.explore else None
            if scout is not None:
                policy = ModelPolicy(LiveRouter.from_registry(settings, scout), settings)
                if policy.router.ready:
                    log.info("load_policy: no champion; static waterfall scouted by version %s", scout)
                    return ScoutedStatic(policy, list(settings.router.static_waterfall))
            log.info("load_policy: no champion yet; static waterfall")
            return StaticWaterfall(list(settings.router.static_waterfall))
    except Exception as exc:
        log.warning("load_policy: registry unavailable (%r); static waterfall", exc)
        return StaticWaterfall(list(settings.router.static_waterfall))
    return ModelPolicy(LiveRouter.from_registry(settings, version), settings)
