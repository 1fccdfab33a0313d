"""LiveRouter: load the champion once, then route one order in microseconds, never raising.

    router = LiveRouter.from_registry(settings)            # models:/<name>@champion, or version="7"
    route = router.route(order, snapshot)                  # Route: ranked venues + allocation legs
    router.stats.fallbacks                                  # routes served by the static waterfall

Per order: online features (:mod:`sor_pipeline.features.online`, ~3 µs) into a preallocated
(V, F) buffer, one call into the compiled tree kernel for both models of every venue plus expected
cost and ranking (:mod:`sor_pipeline.serving.compiled`), then the dynamic waterfall
(:mod:`sor_pipeline.serving.allocation`). No polars/pandas/MLflow in the order path.

Fallback: no model (load failed / no champion), a non-finite score, or any unexpected exception in the
order path gives the static waterfall (``Settings.router.static_waterfall``) with ``Route.fallback = True``,
a logged warning (rate-limited: the 1st, 10th, 100th, ... of each reason) and ``stats.fallbacks += 1``.
Costs are in bps, + = cost; quantities in shares; times UTC epoch ns.
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

from sor_pipeline.config.settings import Settings
from sor_pipeline.features.labels import signed_slippage_bps
from sor_pipeline.features.online import (
    ALL_FEATURES,
    ORDER_FEATURES,
    TimeOfDay,
    order_features,
    order_features_batch,
    venue_stats_matrix,
)
from sor_pipeline.learning.router_model import RouterModel
from sor_pipeline.serving.allocation import AllocationConfig, allocate, venue_caps
from sor_pipeline.serving.columnar import ColumnarPath, OrderColumns, RouteColumns, SnapshotColumns
from sor_pipeline.serving.columnar import _empty as _empty_columns
from sor_pipeline.serving.compiled import CompiledScorer, ReferenceScorer, RouteBuffers, Scores, buffers, make_scorer
from sor_pipeline.serving.exploration import ExplorationParams, draw, rank1_probabilities, scout_params
from sor_pipeline.serving.guard import GuardParams, VenueGuard
from sor_pipeline.serving.types import NAN, Allocation, MarketSnapshot, Order, Route, RouterStats

log = logging.getLogger(__name__)
_N_ORDER = len(ORDER_FEATURES)
_KINDS = {1: "split", 2: "remainder", 3: "split+remainder"}


class LiveRouter:
    """Scores every venue for one order and returns a ranked, allocated Route (see module docstring).

    Not thread-safe (it reuses preallocated buffers): use one router per thread; the compiled kernel
    itself is re-entrant."""

    def __init__(self, model: RouterModel | None, *, static_waterfall: Sequence[str], version: str | None = None,
                 timezone: str = "America/New_York", allocation: AllocationConfig | None = None,
                 scorer: str = "compiled", cache_dir: Path | None = None, load_error: str | None = None,
                 exploration: ExplorationParams | None = None, seed: int = 0, scout: bool = False,
                 guard: GuardParams | None = None, guard_state: Path | None = None) -> None:
        self.stats = RouterStats()
        self.exploration = exploration or ExplorationParams(enabled=False)
        #: Scout mode: ``model`` is a registered challenger, not a champion: the static waterfall routes and
        #: the model's scores only steer the exploration (see :mod:`sor_pipeline.serving.exploration`).
        self.scout = scout and model is not None
        self._rng = np.random.default_rng(seed)
        self.static_waterfall = list(static_waterfall)
        self.allocation = allocation or AllocationConfig()
        self.version = version
        self._tod = TimeOfDay(timezone)
        self._warned: dict[str, int] = {}
        self._scorer: CompiledScorer | ReferenceScorer | None = None
        self.model = model
        self.load_error = load_error
        if model is not None:
            try:
                self._scorer = make_scorer(model, cache_dir, prefer=scorer)
            except Exception as exc:  # a broken artefact must not take the order path down
                self.load_error = f"scorer: {exc!r}"
                self.stats.load_failures += 1
                log.warning("router: cannot build a scorer for the model (%s); static waterfall only", exc)
        if self._scorer is None and self.load_error is None:
            self.load_error = "no model"
        self.venues: list[str] = self._scorer.venues if self._scorer else []
        self.venue_types: list[str] = self._scorer.venue_types if self._scorer else []
        self._type_map = dict(zip(self.venues, self.venue_types, strict=True))
        #: The intraday venue guard (:mod:`sor_pipeline.serving.guard`): off unless ``guard`` enables it.
        self.guard = VenueGuard(self.venues, guard or GuardParams(enabled=False))
        #: Where the guard's evidence is checkpointed between sessions (:meth:`end_day`); read back here
        #: when the checkpoint is this model version's.
        self.guard_state = guard_state
        self._load_guard_state()
        self._policy_name = (f"model:{self.version or 'local'}" if self._scorer is not None and not self.scout
                             else "static")
        self._static_is_lit = [i == len(self.static_waterfall) - 1 for i in range(len(self.static_waterfall))]
        self._columnar: ColumnarPath | None = None
        self._single: RouteBuffers | None = None
        self._batch: RouteBuffers | None = None
        self._buffers(1)

    # ----------------------------------------------------------------------------------------------
    # construction
    @classmethod
    def from_registry(cls, settings: Settings, version: str | None = None, **kw: object) -> LiveRouter:
        """Load ``models:/<name>@<champion_alias>`` (or the pinned ``version``) through the registry, once.
        Never raises: without a loadable model the router serves the static waterfall."""
        model: RouterModel | None = None
        err: str | None = None
        try:
            from sor_pipeline.storage import registry  # lazy: MLflow is imported only to load the model

            resolved = version or registry.champion_version(settings)
            if resolved is None and settings.router.explore and (latest := registry.latest_version(settings)):
                model = registry.load_version(settings, latest, RouterModel.load)
                kw["scout"] = True  # no champion: static routes, the newest challenger steers exploration
                version = latest
            elif resolved is None:
                err = f"no '{settings.mlflow.champion_alias}' version of model '{settings.mlflow.model_name}'"
            else:
                model = registry.load_version(settings, resolved, RouterModel.load)
                version = resolved
        except Exception as exc:
            err = f"load failed: {exc!r}"
        kw.setdefault("cache_dir", settings.router_cache_dir)
        kw.setdefault("guard_state", settings.guard_state_path)
        router = cls(model, static_waterfall=settings.router.static_waterfall, version=version,
                     timezone=settings.market.timezone, load_error=err, exploration=settings.router.exploration(),
                     seed=settings.seed, guard=settings.router.guard_params(),
                     **kw)  # type: ignore[arg-type]
        if err is not None:
            router.stats.load_failures += 1
            log.warning("router: %s; routing with the static waterfall %s", err, settings.router.static_waterfall)
        return router

    def observe(self, venues: Sequence[str], filled: np.ndarray, excess_bps: np.ndarray) -> dict[str, float]:
        """Outcomes of this router's model-routed rank-1 children as they come back today: venue, filled
        (bool) and realised minus predicted slippage (bps, + = cost more than predicted; NaN unless filled).
        Every later route prices a charged venue at its expected cost plus the guard's penalty; returns the
        charges now ({venue: bps}). See :mod:`sor_pipeline.serving.guard`."""
        self.guard.observe(venues, filled, excess_bps)
        if self._scorer is not None:
            self._scorer.set_penalty(self.guard.penalty_bps())
        return self.guard.penalties()

    def observe_fill(self, route: Route, avg_fill_px: float | None, arrival_mid: float,
                     fee_bps: float = 0.0) -> dict[str, float]:
        """One routed order's rank-1 child came back: ``avg_fill_px`` (None = it did not fill), the mid
        when it was sent and the fee paid (bps, + = cost). Routes the model did not rank (static, scout,
        fallback) teach the guard nothing. Returns the charges now (see :meth:`observe`)."""
        if route.fallback or not route.policy.startswith("model:") or not route.ranked_venues:
            return self.guard.penalties()
        filled = avg_fill_px is not None and avg_fill_px > 0
        excess = NAN
        if filled and route.slippage_bps:
            sign = 1.0 if route.order.side.upper() == "BUY" else -1.0
            realized = signed_slippage_bps(np.array([sign]), np.array([float(avg_fill_px or NAN)]),
                                             np.array([arrival_mid]), np.array([fee_bps]))
            excess = float(realized[0]) - float(route.slippage_bps[0])
        return self.observe([route.ranked_venues[0]], np.array([filled]), np.array([excess]))

    def new_day(self, day: date | None = None) -> None:
        """Start a trading session. ``day`` given: the guard carries the evidence of earlier days of this
        model version, discounted (:meth:`VenueGuard.start_day`); None: it forgets everything."""
        if day is None:
            self.guard.reset()
        else:
            self.guard.start_day(day)
        if self._scorer is not None:
            self._scorer.set_penalty(self.guard.penalty_bps())

    def end_day(self) -> None:
        """End of a session: checkpoint the guard's evidence (atomically, with this model version) to
        ``guard_state`` for the next session of the same version. Never raises."""
        if self.guard_state is None or self._scorer is None or self.scout or not self.guard.params.enabled:
            return
        try:
            path = Path(self.guard_state)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": self.version, **self.guard.state()}))
            os.replace(tmp, path)
        except Exception as exc:
            log.warning("router: cannot checkpoint the guard to %s (%r)", self.guard_state, exc)

    def _load_guard_state(self) -> None:
        path = self.guard_state
        if path is None or self._scorer is None or self.scout or not Path(path).exists():
            return
        try:
            state = json.loads(Path(path).read_text())
            if state.get("version") == self.version:
                self.guard.load_state(state)
        except Exception as exc:  # a damaged checkpoint costs the carried evidence, never the router
            log.warning("router: ignoring the guard checkpoint %s (%r)", path, exc)

    @property
    def ready(self) -> bool:
        """True when a model scorer is loaded (otherwise every route is a static fallback)."""
        return self._scorer is not None

    @property
    def scorer(self) -> CompiledScorer | ReferenceScorer | None:
        """The model scorer (None without a model)."""
        return self._scorer

    @property
    def scorer_kind(self) -> str:
        return self._scorer.kind if self._scorer is not None else "none"

    @property
    def policy_name(self) -> str:
        """``model:<version>`` (the registry version, or ``local``) or ``static`` without a model."""
        return self._policy_name

    def _buffers(self, n: int) -> None:
        """(Re)allocate the order-path buffers for batches of up to ``n`` orders, and the struct codecs
        that move one order's values in and out of them (~0.3 µs each, 3x cheaper than numpy)."""
        nv = max(len(self.venues), 1)
        self._pack_of = struct.Struct(f"{_N_ORDER + 2}d").pack_into
        self._pack_disp = struct.Struct(f"{nv}d").pack_into
        self._no_disp = (NAN,) * nv
        self._ints = struct.Struct(f"{nv}i").unpack_from
        self._dbls = struct.Struct(f"{nv}d").unpack_from
        self._ranked = struct.Struct(f"{3 * nv}d").unpack_from
        self._single = self._batch = None
        if isinstance(self._scorer, CompiledScorer):
            self._single = buffers(self._scorer, 1, _N_ORDER, self.allocation)
            if n > 1:
                self._batch = buffers(self._scorer, n, _N_ORDER, self.allocation, per_row_stats=True)
        self._vs_key: object = object()

    # ----------------------------------------------------------------------------------------------
    # the order path
    def features(self, order: Order, snap: MarketSnapshot) -> np.ndarray:
        """The (V, F) model input of ``order`` (venues in :attr:`venues` order, ALL_FEATURES columns,
        NaN = missing): exactly what :meth:`route` scores. For parity checks and debugging."""
        x = np.empty((len(self.venues), len(ALL_FEATURES)))
        x[:, :_N_ORDER] = order_features(order, snap, self._tod)
        x[:, _N_ORDER:] = venue_stats_matrix(self.venues, snap.venue_stats)
        return x

    def route(self, order: Order, snap: MarketSnapshot) -> Route:
        """Ranked venues and allocation legs for ``order`` given ``snap``. Never raises."""
        self.stats.routes += 1
        b = self._single
        if b is None:
            if self._scorer is None:
                return self.static_route(order, snap, self.load_error or "no model")
            return self._route_python([order], [snap])[0]
        try:
            adv = snap.adv
            row = order_features(order, snap, self._tod)
            self._pack_of(b.raw["of"], 0, *row, order.qty, NAN if adv is None else adv)
            vs = snap.venue_stats
            if vs is not self._vs_key:
                b.vs[0] = venue_stats_matrix(self.venues, vs)
                self._vs_key = vs
            disp = snap.displayed
            self._pack_disp(b.raw["disp"], 0, *([disp.get(v, NAN) for v in self.venues] if disp else self._no_disp))
            if b.run(1):
                self.stats.nonfinite += 1
                return self.static_route(order, snap, "non-finite score")
            return self._explore(self._build(b, 0, order), snap)
        except Exception as exc:
            self.stats.errors += 1
            log.exception("router: unexpected error in the order path")
            return self.static_route(order, snap, f"error: {exc!r}")

    def route_batch(self, orders: Sequence[Order], snaps: Sequence[MarketSnapshot]) -> list[Route]:
        """Routes for many orders with one compiled call (same result as :meth:`route` one by one)."""
        n = len(orders)
        self.stats.routes += n
        if self._scorer is None:
            return [self.static_route(o, s, self.load_error or "no model") for o, s in zip(orders, snaps, strict=True)]
        if self._single is None:
            return self._route_python(orders, snaps)
        try:
            if self._batch is None or self._batch.n < n:
                self._buffers(max(n, 2))
            b = self._batch
            assert b is not None
            venues = self.venues
            first = snaps[0].venue_stats if n else None
            if all(s.venue_stats is first for s in snaps):  # the usual case: one mapping for the day
                b.vs[:n] = venue_stats_matrix(venues, first)
            else:
                mats: dict[int, np.ndarray] = {}
                for i, s in enumerate(snaps):
                    mat = mats.get(id(s.venue_stats))
                    if mat is None:
                        mat = mats[id(s.venue_stats)] = venue_stats_matrix(venues, s.venue_stats)
                    b.vs[i] = mat
            b.of[:n, :_N_ORDER] = order_features_batch(orders, snaps, self._tod)
            b.of[:n, _N_ORDER] = [o.qty for o in orders]
            b.of[:n, _N_ORDER + 1] = [NAN if s.adv is None else s.adv for s in snaps]
            no_disp = self._no_disp
            b.disp[:n] = [[d.get(v, NAN) for v in venues] if d else no_disp for d in (s.displayed for s in snaps)]
            if b.run(n):
                self.stats.nonfinite += int(b.bad[:n].sum())
            return self._build_many(b, n, orders, snaps)
        except Exception as exc:
            self.stats.errors += 1
            log.exception("router: unexpected error in the batch order path")
            return [self.static_route(o, s, f"error: {exc!r}") for o, s in zip(orders, snaps, strict=True)]

    @property
    def column_venues(self) -> list[str]:
        """The venue axis of the columnar API: the model's venues, then static-waterfall venues it lacks."""
        return [*self.venues, *[v for v in self.static_waterfall if v not in self.venues]]

    def route_columns(self, orders: OrderColumns, snap: SnapshotColumns) -> RouteColumns:
        """Routes of many orders as arrays (:mod:`sor_pipeline.serving.columnar`): the same ranks,
        costs, legs, exploration draws and propensities as :meth:`route` order by order, at the
        kernel's speed. Never raises into the order path: on an unexpected error every row is routed
        by the object path."""
        if self._columnar is None:
            self._columnar = ColumnarPath(self)
        try:
            return self._columnar.route(orders, snap)
        except Exception as exc:
            self.stats.errors += 1
            log.exception("router: unexpected error in the columnar order path (%r); object path", exc)
            cols = self._columnar
            out = _empty_columns(len(orders), len(cols.venues), [self.policy_name], cols.venues)
            return cols._by_objects(orders, snap, out, np.ones(len(orders), bool), None)

    def _build(self, b: RouteBuffers, i: int, order: Order) -> Route:
        """Route object of order ``i`` from the kernel's outputs (struct unpacking, no numpy calls)."""
        venues, nv = self.venues, len(self.venues)
        ints, dbls = self._ints, self._dbls
        raw = b.raw
        names = [venues[j] for j in ints(raw["order"], i * nv * 4)]
        rk = self._ranked(raw["ranked"], i * nv * 24)
        p, s, c = list(rk[:nv]), list(rk[nv: 2 * nv]), list(rk[2 * nv:])
        legs = []
        for seq, (k, q, kind) in enumerate(zip(ints(raw["leg_rank"], i * nv * 4), dbls(raw["leg_qty"], i * nv * 8),
                                               ints(raw["leg_kind"], i * nv * 4), strict=True), start=1):
            if k < 0:
                break
            legs.append(Allocation(names[k], int(q), seq, c[k], p[k] * q, _KINDS[kind]))
        return Route(order, names, legs, self._policy_name, False, b.fb.item(i), "", p, s, c, self._type_map)

    def _build_many(self, b: RouteBuffers, n: int, orders: Sequence[Order],
                    snaps: Sequence[MarketSnapshot]) -> list[Route]:
        """Route objects of the first ``n`` orders (bulk conversions, then plain Python indexing)."""
        venues, name, types = self.venues, self._policy_name, self._type_map
        out: list[Route] = []
        rows = zip(orders, b.bad[:n].tolist(), b.order[:n].tolist(), b.ranked[:n].tolist(), b.fb[:n].tolist(),
                   b.leg_rank[:n].tolist(), b.leg_qty[:n].tolist(), b.leg_kind[:n].tolist(), strict=True)
        for i, (o, bad, idx, (p, s, c), fb, lr, lq, lk) in enumerate(rows):
            if bad:
                out.append(self.static_route(o, snaps[i], "non-finite score"))
                continue
            names = [venues[j] for j in idx]
            legs = []
            for j, k in enumerate(lr):  # legs are packed first; the kernel pads the rest with -1
                if k < 0:
                    break
                q = lq[j]
                legs.append(Allocation(names[k], int(q), j + 1, c[k], p[k] * q, _KINDS[lk[j]]))
            out.append(Route(o, names, legs, name, False, fb, "", p, s, c, types))
        return out

    def _route_python(self, orders: Sequence[Order], snaps: Sequence[MarketSnapshot]) -> list[Route]:
        """Order path without the compiled kernel (XGBoost reference scorer, allocation in Python)."""
        out: list[Route] = []
        for order, snap in zip(orders, snaps, strict=True):
            try:
                assert self._scorer is not None
                sc: Scores = self._scorer.score(self.features(order, snap)[None])
                if sc.bad[0]:
                    self.stats.nonfinite += 1
                    out.append(self.static_route(order, snap, "non-finite score"))
                    continue
                idx = sc.order[0].tolist()
                names = [self.venues[j] for j in idx]
                p = [float(sc.p_fill[0, j]) for j in idx]
                s = [float(sc.slippage_bps[0, j]) for j in idx]
                c = [float(sc.expected_cost_bps[0, j]) for j in idx]
                caps = venue_caps(names, order.qty, snap.adv, snap.displayed, self.allocation)
                legs = allocate(order.qty, names, [self._type_map[v] == "LIT" for v in names], p, c, caps,
                                self.allocation)
                out.append(Route(order, names, legs, self.policy_name, False, float(sc.fallback_bps[0]), "",
                                 p, s, c, self._type_map))
            except Exception as exc:
                self.stats.errors += 1
                log.exception("router: unexpected error in the order path")
                out.append(self.static_route(order, snap, f"error: {exc!r}"))
        return out

    def _explore(self, route: Route, snap: MarketSnapshot) -> Route:
        """Draw the rank-1 venue (see :mod:`sor_pipeline.serving.exploration`) and record its propensity;
        an explored route puts the drawn venue first and re-allocates in the new order."""
        if not self.exploration.enabled or not route.ranked_venues:
            return route
        params = self.exploration
        if self.scout and not route.fallback:
            route, params = self._scouted(route, snap), scout_params(self.exploration)
        nv = len(route.ranked_venues)
        costs = np.array([route.expected_cost_bps or [NAN] * nv], dtype=np.float64)
        static = next((route.ranked_venues.index(v) for v in self.static_waterfall if v in route.ranked_venues), -1)
        probs = rank1_probabilities(costs, np.zeros(1, dtype=np.int64), np.ones((1, nv), dtype=bool), params,
                                    np.array([static], dtype=np.int64))
        chosen, prop = draw(probs, self._rng)
        k = int(chosen[0])
        route.propensity = float(prop[0])
        if k == 0:
            return route
        perm = [k, *[i for i in range(nv) if i != k]]
        route.ranked_venues = [route.ranked_venues[i] for i in perm]
        for name in ("p_fill", "slippage_bps", "expected_cost_bps"):
            values = getattr(route, name)
            if values:
                setattr(route, name, [values[i] for i in perm])
        types = route.venue_types or {}
        venues = route.ranked_venues
        caps = venue_caps(venues, route.order.qty, snap.adv, snap.displayed, self.allocation)
        p = route.p_fill or [1.0] * nv
        c = route.expected_cost_bps or [NAN] * nv
        route.allocations = allocate(route.order.qty, venues, [types.get(v, "") == "LIT" for v in venues],
                                     [x if np.isfinite(x) else 1.0 for x in p], c, caps, self.allocation)
        route.explored = True
        route.policy = f"{route.policy}/explore"
        return route

    def _scouted(self, route: Route, snap: MarketSnapshot) -> Route:
        """Scout mode: the static waterfall's route for the order, carrying the scout's scores per venue."""
        by = {v: i for i, v in enumerate(route.ranked_venues)}
        order_v = [v for v in self.static_waterfall if v in by] + [v for v in route.ranked_venues
                                                                   if v not in self.static_waterfall]
        pick = [by[v] for v in order_v]
        caps = venue_caps(order_v, route.order.qty, snap.adv, snap.displayed, self.allocation)
        legs = allocate(route.order.qty, order_v, [self._type_map.get(v) == "LIT" for v in order_v],
                        [1.0] * len(order_v), [NAN] * len(order_v), caps, self.allocation)
        return Route(route.order, order_v, legs, "static", False, route.fallback_bps, "scout",
                     [route.p_fill[i] for i in pick], [route.slippage_bps[i] for i in pick],
                     [route.expected_cost_bps[i] for i in pick], self._type_map)

    def static_route(self, order: Order, snap: MarketSnapshot, reason: str) -> Route:
        """The static waterfall: venues in ``static_waterfall`` order, no scores (NaN); legs capped by
        displayed size / ADV share, the remainder to the last venue (the waterfall's lit end)."""
        self.stats.fallbacks += 1
        self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
        count = self._warned.get(reason, 0) + 1
        self._warned[reason] = count
        if math.log10(count).is_integer():
            log.warning("router: static-waterfall fallback (%s), %d time(s)", reason, count)
        order_v = self.static_waterfall
        try:
            caps = venue_caps(order_v, order.qty, snap.adv, snap.displayed, self.allocation)
            legs = allocate(order.qty, order_v, self._static_is_lit, [1.0] * len(order_v), [NAN] * len(order_v),
                            caps, self.allocation)
        except Exception:
            legs = []
        return self._explore(Route(order, list(order_v), legs, "static", True, NAN, reason,
                                   venue_types=self._type_map), snap)
