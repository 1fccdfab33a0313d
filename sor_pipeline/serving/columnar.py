"""The columnar order path: arrays in, arrays out, at the compiled kernel's speed.

    cols = router.route_columns(OrderColumns(...), SnapshotColumns(...))   # RouteColumns
    cols.ranked[i]            # venue indices (into cols.venues), rank 1 first, after exploration
    cols.leg_venue[i], cols.leg_qty[i]                                     # the allocation legs
    cols.propensity[i], cols.explored[i], cols.policies[cols.policy_code[i]]  # the decision record

Same answer as :meth:`LiveRouter.route` called order by order with the same router state (ranks,
p_fill / slippage / expected cost, lit fallback, legs, exploration draw and propensity; the random
stream is consumed one uniform per order in row order, exactly as ``route`` does), without any
per-order Python: order features from columns (:func:`order_features_columns`), one call into the
kernel for scores, ranking and the dynamic waterfall, the exploration draw vectorised
(:mod:`sor_pipeline.serving.exploration`), and one more kernel call that re-allocates the explored
rows in their new order. Rows the kernel flags (a non-finite score) go to the static waterfall
through the object path, as ``route`` does. Costs in bps (+ = cost), quantities in shares, times UTC
epoch ns; NaN = unknown.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sor_pipeline.features.decision import URGENCY_CODES
from sor_pipeline.features.online import ORDER_FEATURES, order_features_columns
from sor_pipeline.serving.compiled import CompiledScorer, RouteBuffers, buffers
from sor_pipeline.serving.exploration import rank1_probabilities
from sor_pipeline.serving.types import NAN, MarketSnapshot, Order, Route

if TYPE_CHECKING:
    from sor_pipeline.serving.live import LiveRouter

_N_ORDER = len(ORDER_FEATURES)
#: ``leg_kind`` codes (the kernel's): 1 split, 2 lit remainder, 3 both on one leg.
LEG_KINDS = {1: "split", 2: "remainder", 3: "split+remainder"}
_KIND_CODES = {v: k for k, v in LEG_KINDS.items()}


@dataclass
class OrderColumns:
    """n orders as columns. ``side_sign`` +1 BUY / -1 SELL; ``qty`` shares; ``is_mkt`` (else LMT),
    ``is_ioc`` (else DAY); ``urgency_code`` 0 LOW / 1 MEDIUM / 2 HIGH (NaN unknown); ``limit_px`` (NaN for
    a market order); ``ts`` decision time, UTC epoch ns (int64)."""

    side_sign: np.ndarray
    qty: np.ndarray
    is_mkt: np.ndarray
    is_ioc: np.ndarray
    urgency_code: np.ndarray
    limit_px: np.ndarray
    ts: np.ndarray

    def __len__(self) -> int:
        return len(self.qty)

    @classmethod
    def from_orders(cls, orders: Sequence[Order]) -> OrderColumns:
        """Columns of ``Order`` objects (for tests and adapters; the columnar path never builds objects)."""
        return cls(side_sign=np.array([1.0 if o.side == "BUY" else -1.0 for o in orders]),
                   qty=np.array([o.qty for o in orders], dtype=np.float64),
                   is_mkt=np.array([o.order_type == "MKT" for o in orders], dtype=bool),
                   is_ioc=np.array([o.tif == "IOC" for o in orders], dtype=bool),
                   urgency_code=np.array([URGENCY_CODES.get(o.urgency, NAN) for o in orders], dtype=np.float64),
                   limit_px=np.array([NAN if o.limit_px is None or o.order_type != "LMT" else o.limit_px
                                      for o in orders], dtype=np.float64),
                   ts=np.array([o.ts for o in orders], dtype=np.int64))


@dataclass
class SnapshotColumns:
    """The market state of each of the n orders. NBBO ``bid_px``/``ask_px``/``mid_px``; ``bid_sz``/``ask_sz``
    (n, 5) consolidated lit sizes, shares (a NaN row = no book); ``rvol_5m_bps``, ``adv`` (shares/day),
    NaN = unknown; ``displayed`` (n, W) far-side displayed shares per venue in the router's ``column_venues``
    order (its model's venues, then static-waterfall venues the model lacks; NaN = not displayed);
    ``venue_stats`` the (V, 5) trailing statistics of the model's venues (``LiveRouter.venues``) shared
    by all rows, or (n, V, 5) per row."""

    bid_px: np.ndarray
    ask_px: np.ndarray
    mid_px: np.ndarray
    bid_sz: np.ndarray
    ask_sz: np.ndarray
    rvol_5m_bps: np.ndarray
    adv: np.ndarray
    displayed: np.ndarray
    venue_stats: np.ndarray

    @classmethod
    def from_snapshots(cls, snaps: Sequence[MarketSnapshot], venues: Sequence[str],
                       column_venues: Sequence[str] | None = None) -> SnapshotColumns:
        """Columns of ``MarketSnapshot`` objects: ``venue_stats`` in ``venues`` order, ``displayed`` in
        ``column_venues`` order (default ``venues``)."""
        shown = list(column_venues if column_venues is not None else venues)
        from sor_pipeline.features.online import venue_stats_matrix

        empty = [NAN] * 5
        first = snaps[0].venue_stats if snaps else None
        if all(s.venue_stats is first for s in snaps):
            stats = venue_stats_matrix(venues, first)
        else:
            stats = np.stack([venue_stats_matrix(venues, s.venue_stats) for s in snaps])

        def book(side: str) -> np.ndarray:
            return np.array([list(getattr(s, side)[:5]) if s.bid_sz is not None and s.ask_sz is not None else empty
                             for s in snaps], dtype=np.float64).reshape(-1, 5)

        return cls(bid_px=np.array([s.bid_px for s in snaps], dtype=np.float64),
                   ask_px=np.array([s.ask_px for s in snaps], dtype=np.float64),
                   mid_px=np.array([s.mid_px for s in snaps], dtype=np.float64),
                   bid_sz=book("bid_sz"), ask_sz=book("ask_sz"),
                   rvol_5m_bps=np.array([NAN if s.rvol_5m_bps is None else s.rvol_5m_bps for s in snaps]),
                   adv=np.array([NAN if s.adv is None else s.adv for s in snaps]),
                   displayed=np.array([[(s.displayed or {}).get(v, NAN) for v in shown] for s in snaps],
                                      dtype=np.float64).reshape(-1, len(shown)),
                   venue_stats=stats)

    def row(self, i: int, venues: Sequence[str]) -> MarketSnapshot:
        """Row ``i`` as a MarketSnapshot carrying what allocation reads (ADV, displayed sizes)."""
        adv = float(self.adv[i])
        disp = {v: float(d) for v, d in zip(venues, self.displayed[i], strict=True) if d == d}
        return MarketSnapshot("", 0, float(self.bid_px[i]), float(self.ask_px[i]), float(self.mid_px[i]),
                              adv=adv if adv == adv else None, displayed=disp or None)


@dataclass
class RouteColumns:
    """Routes of n orders as arrays (W = len(venues): the model's venues, then any static-waterfall
    venue the model lacks). ``ranked`` (n, W) venue indices rank 1 first (-1 pads a shorter ranking);
    ``p_fill``, ``slippage_bps``, ``expected_cost_bps`` (n, W) in that rank order (NaN on a static
    route); ``fallback_bps`` (n,) lit-sweep cost; ``leg_venue`` (n, W) venue index of each allocation
    leg in routing order (-1 after the last), ``leg_qty`` shares, ``leg_kind`` (:data:`LEG_KINDS`);
    ``propensity`` probability of the rank-1 choice, ``explored`` it differs from the ranking's,
    ``fallback`` static waterfall used; ``policy_code`` indexes ``policies`` (the decision record's
    ``router_policy``)."""

    venues: list[str]
    ranked: np.ndarray
    p_fill: np.ndarray
    slippage_bps: np.ndarray
    expected_cost_bps: np.ndarray
    fallback_bps: np.ndarray
    leg_venue: np.ndarray
    leg_qty: np.ndarray
    leg_kind: np.ndarray
    propensity: np.ndarray
    explored: np.ndarray
    fallback: np.ndarray
    policy_code: np.ndarray
    policies: list[str]

    def __len__(self) -> int:
        return len(self.propensity)

    def rank1(self) -> list[str]:
        """The rank-1 venue of every row (for logging; builds Python strings)."""
        names = np.array(self.venues, dtype=object)
        return list(names[self.ranked[:, 0]])


class _OneDraw:
    """Stands in for the router's generator for one static route: returns the uniform already drawn
    for that row, so the stream stays aligned with ``route`` called order by order."""

    def __init__(self, u: float) -> None:
        self.u = u

    def random(self, size: int) -> np.ndarray:
        return np.full(size, self.u)


def _empty(n: int, w: int, policies: list[str], venues: list[str]) -> RouteColumns:
    return RouteColumns(venues=venues, ranked=np.full((n, w), -1, np.int32), p_fill=np.full((n, w), NAN),
                        slippage_bps=np.full((n, w), NAN), expected_cost_bps=np.full((n, w), NAN),
                        fallback_bps=np.full(n, NAN), leg_venue=np.full((n, w), -1, np.int32),
                        leg_qty=np.zeros((n, w), np.int64), leg_kind=np.zeros((n, w), np.int8),
                        propensity=np.ones(n), explored=np.zeros(n, bool), fallback=np.zeros(n, bool),
                        policy_code=np.zeros(n, np.int8), policies=policies)


def _put(out: RouteColumns, i: int, route: Route, index: dict[str, int]) -> None:
    """Row ``i`` of ``out`` from an object-path Route."""
    k = len(route.ranked_venues)
    out.ranked[i, :k] = [index[v] for v in route.ranked_venues]
    for name in ("p_fill", "slippage_bps", "expected_cost_bps"):
        values = getattr(route, name)
        getattr(out, name)[i, :k] = values if values else NAN
    out.fallback_bps[i] = route.fallback_bps
    for j, leg in enumerate(route.allocations):
        out.leg_venue[i, j], out.leg_qty[i, j], out.leg_kind[i, j] = index[leg.venue], leg.qty, _KIND_CODES[leg.reason]
    out.propensity[i], out.explored[i], out.fallback[i] = route.propensity, route.explored, route.fallback
    if route.policy not in out.policies:
        out.policies.append(route.policy)
    out.policy_code[i] = out.policies.index(route.policy)


class ColumnarPath:
    """The columnar order path of one :class:`LiveRouter` (its buffers, reused across calls)."""

    def __init__(self, router: LiveRouter) -> None:
        self.router = router
        self._buf: RouteBuffers | None = None
        static_only = [v for v in router.static_waterfall if v not in router.venues]
        self.venues = [*router.venues, *static_only]
        self.index = {v: i for i, v in enumerate(self.venues)}
        self._realloc: Any = None
        scorer = router.scorer
        if isinstance(scorer, CompiledScorer):
            fn = scorer._lib.sor_allocate
            fn.restype = ctypes.c_int64
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
            self._realloc = fn

    def _buffers(self, n: int) -> RouteBuffers:
        scorer = self.router.scorer
        assert isinstance(scorer, CompiledScorer)
        if self._buf is None or self._buf.n < n:
            self._buf = buffers(scorer, max(n, 1024), _N_ORDER, self.router.allocation, per_row_stats=True)
        return self._buf

    def route(self, orders: OrderColumns, snap: SnapshotColumns) -> RouteColumns:
        r = self.router
        n = len(orders)
        nv = len(r.venues)
        base = r.policy_name
        out = _empty(n, len(self.venues), [base, f"{base}/explore"], self.venues)
        r.stats.routes += n
        if n == 0:
            return out
        explore = r.exploration.enabled
        if r.scorer is None or self._realloc is None:  # no model, or the XGBoost reference scorer
            return self._by_objects(orders, snap, out, np.zeros(n, bool), None)
        b = self._buffers(n)
        b.of[:n, :_N_ORDER] = order_features_columns(
            buy=orders.side_sign > 0, qty=orders.qty, is_mkt=orders.is_mkt, is_ioc=orders.is_ioc,
            urgency_code=orders.urgency_code, is_lmt=~orders.is_mkt & ~np.isnan(orders.limit_px),
            limit_px=orders.limit_px, ts=orders.ts, bid_px=snap.bid_px, ask_px=snap.ask_px, mid_px=snap.mid_px,
            bid_sz=snap.bid_sz, ask_sz=snap.ask_sz, rvol_5m_bps=snap.rvol_5m_bps, adv=snap.adv, tod=r._tod)
        b.of[:n, _N_ORDER] = orders.qty
        b.of[:n, _N_ORDER + 1] = snap.adv
        b.vs[:n] = snap.venue_stats
        b.disp[:n] = snap.displayed[:, :nv]
        if b.run(n):
            r.stats.nonfinite += int(b.bad[:n].sum())
        bad = b.bad[:n].astype(bool)
        u = r._rng.random(n) if explore else None
        rows = np.flatnonzero(~bad)
        if explore and rows.size:
            self._explore(b, rows, u, out)
        out.ranked[:, :nv] = b.order[:n]
        out.p_fill[:, :nv] = b.ranked[:n, 0]
        out.slippage_bps[:, :nv] = b.ranked[:n, 1]
        out.expected_cost_bps[:, :nv] = b.ranked[:n, 2]
        out.fallback_bps[:] = b.fb[:n]
        legs = b.leg_rank[:n]
        has = legs >= 0
        out.leg_venue[:, :nv] = np.where(has, np.take_along_axis(b.order[:n], np.where(has, legs, 0), axis=1), -1)
        out.leg_qty[:, :nv] = b.leg_qty[:n]
        out.leg_kind[:, :nv] = b.leg_kind[:n]
        if bad.any():
            self._by_objects(orders, snap, out, bad, u)
        return out

    def _explore(self, b: RouteBuffers, rows: np.ndarray, u: np.ndarray | None, out: RouteColumns) -> None:
        """Draw the rank-1 venue of ``rows`` (one uniform each, as :func:`exploration.draw`), record the
        propensity, move the drawn venue first and re-allocate those rows in the kernel."""
        assert u is not None
        r = self.router
        nv = len(r.venues)
        costs = b.ranked[rows, 2]
        m = len(rows)
        probs = rank1_probabilities(costs, np.zeros(m, dtype=np.int64), np.ones((m, nv), dtype=bool), r.exploration)
        cdf = np.cumsum(probs, axis=1)
        target = u[rows] * cdf[:, -1]
        chosen = np.minimum((cdf < target[:, None]).sum(axis=1), nv - 1)
        out.propensity[rows] = probs[np.arange(m), chosen]
        moved = chosen != 0
        if not moved.any():
            return
        ex, k = rows[moved], chosen[moved]
        j = np.arange(nv)[None, :]
        perm = np.where(j == 0, k[:, None], np.where(j <= k[:, None], j - 1, j))
        b.order[ex] = np.take_along_axis(b.order[ex], perm, axis=1)
        b.ranked[ex] = np.take_along_axis(b.ranked[ex], perm[:, None, :].repeat(3, axis=1), axis=2)
        idx = np.ascontiguousarray(ex, dtype=np.int64)
        self._realloc(r.scorer.model_ptr, b._job_ptr, idx.ctypes.data, len(idx))  # type: ignore[union-attr]
        out.explored[ex] = True
        out.policy_code[ex] = 1

    def _by_objects(self, orders: OrderColumns, snap: SnapshotColumns, out: RouteColumns, rows_mask: np.ndarray,
                    u: np.ndarray | None) -> RouteColumns:
        """Rows through the object path: every row when there is no compiled kernel (``u`` None: the
        router draws as usual), else the flagged rows as static routes with their pre-drawn uniform."""
        r = self.router
        r.stats.routes -= len(orders) if u is None else int(rows_mask.sum())  # route()/static count them again
        rows = range(len(orders)) if u is None else np.flatnonzero(rows_mask)
        urg = {c: k for k, c in URGENCY_CODES.items()}
        for i in rows:
            lim = float(orders.limit_px[i])
            order = Order("", "BUY" if orders.side_sign[i] > 0 else "SELL", int(orders.qty[i]),
                          "MKT" if orders.is_mkt[i] else "LMT", "IOC" if orders.is_ioc[i] else "DAY",
                          None if lim != lim else lim, urg.get(float(orders.urgency_code[i]), ""), int(orders.ts[i]))
            if u is None:
                s = self._full_snapshot(snap, int(i))
                route = r.route(order, s)
            else:
                saved = r._rng
                r._rng = _OneDraw(float(u[i]))  # type: ignore[assignment]
                try:
                    r.stats.routes += 1
                    route = r.static_route(order, snap.row(int(i), self.venues), "non-finite score")
                finally:
                    r._rng = saved
            out.ranked[i], out.leg_venue[i], out.leg_qty[i], out.leg_kind[i] = -1, -1, 0, 0
            for name in ("p_fill", "slippage_bps", "expected_cost_bps"):
                getattr(out, name)[i] = NAN
            _put(out, int(i), route, self.index)
        return out

    def _full_snapshot(self, snap: SnapshotColumns, i: int) -> MarketSnapshot:
        r = self.router
        venues = r.venues
        stats = snap.venue_stats if snap.venue_stats.ndim == 2 else snap.venue_stats[i]
        book = not np.isnan(snap.bid_sz[i]).all()
        s = snap.row(i, self.venues)
        s.bid_sz = snap.bid_sz[i].tolist() if book else None
        s.ask_sz = snap.ask_sz[i].tolist() if book else None
        rv = float(snap.rvol_5m_bps[i])
        s.rvol_5m_bps = rv if rv == rv else None
        s.venue_stats = {v: [None if x != x else float(x) for x in stats[j]] for j, v in enumerate(venues)}
        return s
