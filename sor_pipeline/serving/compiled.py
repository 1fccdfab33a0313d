"""Scorers: the compiled fast path and the XGBoost reference path, with one interface.

:class:`CompiledScorer` flattens every venue's boosters (XGBoost JSON) into one contiguous node array
and evaluates them with a small C kernel (``treeeval.c``) compiled once with the system C compiler
into a cache folder (``$SOR_HOME/cache/router`` by default) and called through ctypes. It reproduces
XGBoost's CPU predictor bit for bit on supported models (gbtree, numerical splits, identity or
logistic link). :class:`ReferenceScorer` calls ``Booster.inplace_predict`` per venue (~0.3 ms per
booster call) and is used when compiling is not possible.

Both take ``X`` of shape (n_orders, V, F) float64 (features in :data:`ALL_FEATURES` order, NaN =
missing) and return :class:`Scores`: p_fill in [0, 1], slippage and expected cost (bps, + = cost), the
lit-sweep fallback (bps), the venue order by cost (ascending) and a per-order non-finite flag.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb

from sor_pipeline.config.settings import get_settings
from sor_pipeline.features.online import ALL_FEATURES
from sor_pipeline.learning.costs import expected_cost_bps
from sor_pipeline.learning.router_model import RouterModel

log = logging.getLogger(__name__)

C_SOURCE = Path(__file__).with_name("treeeval.c")
CFLAGS = ["-O3", "-fPIC", "-shared", "-fno-fast-math"]
NODE_DTYPE = np.dtype([("thr", "<f4"), ("f", "<i4")])
_LINKS = {"binary:logistic": 1, "reg:logistic": 1, "reg:squarederror": 0, "reg:pseudohubererror": 0,
          "reg:absoluteerror": 0, "reg:quantileerror": 0}


class UnsupportedModel(ValueError):
    """A booster the compiled path cannot reproduce exactly (categorical splits, other links, ...)."""


@dataclass
class Scores:
    """Scores of n orders x V venues (venue axis in the scorer's ``venues`` order)."""

    p_fill: np.ndarray  # (n, V), in [0, 1]
    slippage_bps: np.ndarray  # (n, V), + = cost
    expected_cost_bps: np.ndarray  # (n, V), + = cost
    fallback_bps: np.ndarray  # (n,), min LIT slippage
    order: np.ndarray  # (n, V) int32 venue indices, cheapest first
    bad: np.ndarray  # (n,) bool, a non-finite score somewhere


def _venue_arrays(model: RouterModel) -> tuple[list[str], list[str], np.ndarray]:
    venues = list(model.venues)
    types = [model.venues[v].venue_type for v in venues]
    return venues, types, np.array([t == "LIT" for t in types], dtype=np.uint8)


class ReferenceScorer:
    """Scores through XGBoost's Python API (the pyfunc's own arithmetic); slow but always available."""

    kind = "xgboost"

    def __init__(self, model: RouterModel) -> None:
        self.model = model
        self.venues, self.venue_types, self.is_lit = _venue_arrays(model)
        self._perm = [ALL_FEATURES.index(c) for c in model.feature_columns]
        self.penalty_bps = np.zeros(len(self.venues))

    def set_penalty(self, penalty_bps: np.ndarray) -> None:
        """Charge each venue ``penalty_bps`` (V,) on every later score (the intraday guard's charge)."""
        self.penalty_bps = np.asarray(penalty_bps, dtype=np.float64).copy()

    def score(self, x: np.ndarray) -> Scores:
        n, nv, _ = x.shape
        p = np.empty((n, nv))
        s = np.empty((n, nv))
        for j, v in enumerate(self.venues):
            xv = np.ascontiguousarray(x[:, j, self._perm])
            vm = self.model.venues[v]
            p[:, j] = np.clip(vm.predict_p_fill(xv), 0.0, 1.0)
            s[:, j] = vm.predict_slippage(xv)
        lit = self.is_lit.astype(bool)
        with np.errstate(all="ignore"):
            fb = np.min(s[:, lit], axis=1) if lit.any() else np.min(s, axis=1)
            cost = expected_cost_bps(p, s, fb[:, None]) + self.penalty_bps[None, :]
        bad = np.asarray(~(np.isfinite(p).all(axis=1) & np.isfinite(s).all(axis=1)
                           & np.isfinite(cost).all(axis=1)), dtype=bool)
        order = np.argsort(cost, axis=1, kind="stable").astype(np.int32)
        return Scores(p, s, cost, fb, order, bad)


# --------------------------------------------------------------------------------------------------
# flattening
def _base_margin(learner: dict[str, object], link: int) -> np.float32:
    param = learner["learner_model_param"]
    assert isinstance(param, dict)
    text = str(param["base_score"]).strip("[]").split(",")
    if len(text) != 1:
        raise UnsupportedModel("multi-target base_score")
    base = np.float32(float(text[0]))
    if link == 1:
        return np.float32(-np.log(np.float32(1.0) / base - np.float32(1.0)))
    return base


MAX_VENUES = 64  # the kernel's per-order buffers (treeeval.c: V <= 64, V * F <= MAXVF)
MAX_VENUE_FEATURES = 2048
MAX_DEPTH = 10  # deeper trees (e.g. lossguide) are not padded: the reference scorer is used instead


@dataclass
class FlatBooster:
    """One booster as complete binary trees of depth ``depth`` in breadth-first arrays: internal node i
    of a tree has children 2i+1 (left) and 2i+2 (right); a leaf above ``depth`` is copied into all its
    descendants. ``feat`` is the feature index, + n_feat when missing values go right (the kernel reads
    ``[x with NaN -> -inf | x with NaN -> +inf]``). ``feat``/``thr``/``dright`` have
    ``n_trees * (2**depth - 1)`` entries, ``leaf`` ``n_trees * 2**depth``; ``base`` is the base margin,
    ``link`` 1 = sigmoid, 0 = identity."""

    depth: int
    n_trees: int
    feat: np.ndarray
    thr: np.ndarray
    dright: np.ndarray
    leaf: np.ndarray
    base: np.float32
    link: int


def _tree_depth(left: list[int], right: list[int]) -> int:
    depth = 0
    stack = [(0, 0)]
    while stack:
        node, d = stack.pop()
        if left[node] < 0:
            depth = max(depth, d)
        else:
            stack.extend(((left[node], d + 1), (right[node], d + 1)))
    return depth


def flatten_booster(booster: xgb.Booster, feature_index: list[int]) -> FlatBooster:
    """Flatten one booster (XGBoost JSON); split features are remapped through ``feature_index``
    (booster feature j -> column feature_index[j] of X). Raises UnsupportedModel when the compiled
    kernel could not reproduce XGBoost exactly."""
    doc = json.loads(booster.save_raw("json"))
    learner = doc["learner"]
    obj = learner["objective"]["name"]
    if obj not in _LINKS:
        raise UnsupportedModel(f"objective {obj}")
    link = _LINKS[obj]
    gb = learner["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise UnsupportedModel(f"booster {gb.get('name')}")
    trees = gb["model"]["trees"]
    if any(int(t) != 0 for t in gb["model"]["tree_info"]):
        raise UnsupportedModel("multi-output trees")
    if any(int(k) != 0 for t in trees for k in t["split_type"]):
        raise UnsupportedModel("categorical split")
    depth = max((_tree_depth(t["left_children"], t["right_children"]) for t in trees), default=0)
    if depth > MAX_DEPTH:
        raise UnsupportedModel(f"tree depth {depth} > {MAX_DEPTH}")
    ni, nl, nt = (1 << depth) - 1, 1 << depth, len(trees)
    n_feat = len(ALL_FEATURES)
    feat = np.zeros(nt * ni, np.int32)
    thr = np.full(nt * ni, np.inf, np.float32)
    dright = np.zeros(nt * ni, np.uint8)  # kept for inspection; folded into ``feat`` for the kernel
    leaf = np.zeros(nt * nl, np.float32)
    for t, tree in enumerate(trees):
        left, right = tree["left_children"], tree["right_children"]
        split_idx, cond, dleft = tree["split_indices"], tree["split_conditions"], tree["default_left"]
        stack = [(0, 0, 0)]  # (xgb node, complete-tree position, level)
        while stack:
            node, pos, level = stack.pop()
            if level == depth:  # at full depth: must be a leaf (possibly a copied one)
                leaf[t * nl + pos - ni] = cond[node]
                continue
            if left[node] < 0:  # a leaf above full depth: copy it into both subtrees
                stack.extend(((node, 2 * pos + 1, level + 1), (node, 2 * pos + 2, level + 1)))
                continue
            i = t * ni + pos
            dright[i] = 0 if dleft[node] else 1
            feat[i] = feature_index[split_idx[node]] + (n_feat if dright[i] else 0)
            thr[i] = cond[node]
            stack.extend(((left[node], 2 * pos + 1, level + 1), (right[node], 2 * pos + 2, level + 1)))
    return FlatBooster(depth, nt, feat, thr, dright, leaf, _base_margin(learner, link), link)


class _CModel(ctypes.Structure):
    _fields_ = [("n_venues", ctypes.c_int32), ("n_feat", ctypes.c_int32), *[
        (name, ctypes.c_void_p) for name in ("nodes", "leaf", "int_off", "leaf_off", "depth",
                                             "n_trees", "transform", "base", "fill_idx", "slip_idx", "fill_const",
                                             "slip_const", "is_lit", "penalty")]]


class _CJob(ctypes.Structure):
    _fields_ = [("n_order", ctypes.c_int32), ("n_vs", ctypes.c_int32), ("max_venues", ctypes.c_int32),
                ("max_adv_share", ctypes.c_double), ("lot", ctypes.c_double), ("use_displayed", ctypes.c_int32),
                ("of", ctypes.c_void_p), ("of_stride", ctypes.c_int64), ("vs", ctypes.c_void_p),
                ("vs_stride", ctypes.c_int64), ("disp", ctypes.c_void_p), ("disp_stride", ctypes.c_int64),
                *[(name, ctypes.c_void_p) for name in ("ranked", "p", "s", "cost", "fb", "order", "bad", "leg_rank",
                                                       "leg_qty", "leg_kind")]]


class RouteBuffers:
    """Preallocated inputs/outputs of the compiled order path for up to ``n`` orders.

    Inputs per order i: ``of[i]`` = the ORDER_FEATURES values, then qty (shares) and ADV (shares/day,
    NaN = unknown); ``vs`` the (V, 5) venue statistics (shared by all rows unless ``per_row_stats``);
    ``disp[i]`` displayed far-side shares per venue (NaN = not displayed). Outputs per order: ``ranked[i]``
    (3, V) p_fill / slippage / expected cost in rank order, ``order[i]`` venue indices cheapest first,
    ``fb[i]`` lit fallback (bps), ``bad[i]``, and the legs ``leg_rank[i]`` (rank positions, -1 = none),
    ``leg_qty[i]`` (shares), ``leg_kind[i]`` (1 split, 2 remainder, 3 both)."""

    def __init__(self, scorer: CompiledScorer, n: int, n_order: int, *, per_row_stats: bool = False,
                 max_venues: int = 4, max_adv_share: float = 0.01, lot: int = 1, use_displayed: bool = True) -> None:
        nv, n_vs = len(scorer.venues), scorer.n_feat - n_order
        self.n = n
        self.of = np.zeros((n, n_order + 2))
        self.vs = np.full((n if per_row_stats else 1, nv, n_vs), np.nan)
        self.disp = np.full((n, nv), np.nan)
        self.ranked = np.zeros((n, 3, nv))
        self.p, self.s, self.cost = np.zeros((n, nv)), np.zeros((n, nv)), np.zeros((n, nv))
        self.fb, self.order, self.bad = np.zeros(n), np.zeros((n, nv), np.int32), np.zeros(n, np.uint8)
        self.leg_rank, self.leg_qty = np.full((n, nv), -1, np.int32), np.zeros((n, nv))
        self.leg_kind = np.zeros((n, nv), np.int32)
        self._job = _CJob(n_order, n_vs, max_venues, max_adv_share, float(max(lot, 1)), int(use_displayed),
                          self.of.ctypes.data, n_order + 2, self.vs.ctypes.data, nv * n_vs if per_row_stats else 0,
                          self.disp.ctypes.data, nv, *[getattr(self, k).ctypes.data for k in (
                              "ranked", "p", "s", "cost", "fb", "order", "bad", "leg_rank", "leg_qty", "leg_kind")])
        self._job_ptr = ctypes.addressof(self._job)
        # flat byte views for struct.pack_into / unpack_from (the one-order path)
        self.raw = {k: memoryview(getattr(self, k)).cast("B") for k in (
            "of", "disp", "ranked", "order", "leg_rank", "leg_qty", "leg_kind")}
        self._fn = scorer._lib.sor_route
        self._model_ptr = scorer.model_ptr

    def run(self, n: int) -> int:
        """Score, rank and allocate the first ``n`` orders; returns how many had a non-finite score."""
        return int(self._fn(self._model_ptr, self._job_ptr, n))


# --------------------------------------------------------------------------------------------------
# compiling
def default_cache_dir() -> Path:
    """The process settings' :attr:`~sor_pipeline.config.settings.Settings.router_cache_dir`."""
    return get_settings().router_cache_dir


def compile_kernel(cache_dir: Path | None = None) -> Path:
    """Compile ``treeeval.c`` once into ``cache_dir`` (keyed by a hash of source and flags); returns the
    shared library path. Raises OSError/CalledProcessError when no working C compiler is found."""
    src = C_SOURCE.read_bytes()
    cc = os.environ.get("CC", "gcc")
    flags = [*CFLAGS, *os.environ.get("SOR_ROUTER_CFLAGS", "").split()]
    key = hashlib.sha256(src + " ".join([cc, *flags, platform.machine()]).encode()).hexdigest()[:16]
    folder = cache_dir or default_cache_dir()
    lib = folder / f"treeeval-{key}.so"
    if lib.is_file():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    try:
        subprocess.run([cc, *flags, "-o", tmp, str(C_SOURCE), "-lm"], check=True, capture_output=True, timeout=60)
        os.replace(tmp, lib)  # atomic: concurrent loaders see a whole file or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


class CompiledScorer:
    """All venues' boosters flattened into contiguous arrays, scored by the compiled C kernel."""

    kind = "compiled"

    def __init__(self, model: RouterModel, cache_dir: Path | None = None) -> None:
        self.model = model
        self.venues, self.venue_types, is_lit = _venue_arrays(model)
        self.n_feat = len(ALL_FEATURES)
        if not 0 < len(self.venues) <= MAX_VENUES or len(self.venues) * self.n_feat > MAX_VENUE_FEATURES:
            raise UnsupportedModel(f"{len(self.venues)} venues x {self.n_feat} features exceed the kernel's buffers")
        feature_index = [ALL_FEATURES.index(c) for c in model.feature_columns]
        flats: list[FlatBooster] = []
        nv = len(self.venues)
        idx = {"fill": np.full(nv, -1, np.int32), "slip": np.full(nv, -1, np.int32)}
        const = {"fill": np.zeros(nv), "slip": np.zeros(nv)}
        for j, v in enumerate(self.venues):
            vm = model.venues[v]
            for key, booster, c in (("fill", vm.fill, vm.fill_const if vm.fill_const is not None else 0.5),
                                    ("slip", vm.slippage, vm.slippage_const_bps or 0.0)):
                const[key][j] = float(c)
                if booster is None:
                    continue
                fi = [ALL_FEATURES.index(n) for n in booster.feature_names] if booster.feature_names else feature_index
                flats.append(flatten_booster(booster, fi))
                idx[key][j] = len(flats) - 1
        if not flats:  # constants only: one empty model keeps every pointer valid
            flats.append(FlatBooster(0, 0, np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.uint8),
                                     np.zeros(0, np.float32), np.float32(0.0), 0))

        def cat(name: str, dtype: type) -> np.ndarray:
            parts = [getattr(f, name) for f in flats]
            return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0), dtype=dtype)

        n_int = [len(f.feat) for f in flats]
        n_leaf = [len(f.leaf) for f in flats]
        nodes = np.zeros(sum(n_int), NODE_DTYPE)
        nodes["thr"], nodes["f"] = cat("thr", np.float32), cat("feat", np.int32)
        self._arrays = {
            "nodes": nodes, "leaf": cat("leaf", np.float32),
            "int_off": np.concatenate([[0], np.cumsum(n_int)[:-1]]).astype(np.int64),
            "leaf_off": np.concatenate([[0], np.cumsum(n_leaf)[:-1]]).astype(np.int64),
            "depth": np.array([f.depth for f in flats], np.int32),
            "n_trees": np.array([f.n_trees for f in flats], np.int32),
            "transform": np.array([f.link for f in flats], np.int32),
            "base": np.array([f.base for f in flats], np.float32),
            "fill_idx": idx["fill"], "slip_idx": idx["slip"], "fill_const": const["fill"],
            "slip_const": const["slip"], "is_lit": is_lit, "penalty": np.zeros(nv),
        }
        # zero-length arrays still need a valid address
        self._arrays = {k: (a if a.size else np.zeros(1, a.dtype)) for k, a in self._arrays.items()}
        self.n_trees = int(sum(f.n_trees for f in flats))
        self.n_nodes = int(sum(n_int) + sum(n_leaf))
        self._lib = ctypes.CDLL(str(compile_kernel(cache_dir)))
        fn = self._lib.sor_score
        fn.restype = ctypes.c_int64
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, *[ctypes.c_void_p] * 7]
        self._fn = fn
        route_fn = self._lib.sor_route
        route_fn.restype = ctypes.c_int64
        route_fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        self._cmodel = _CModel(len(self.venues), self.n_feat,
                               *[a.ctypes.data for a in self._arrays.values()])
        self.model_ptr = ctypes.addressof(self._cmodel)

    @property
    def penalty_bps(self) -> np.ndarray:
        """(V,) bps added to each venue's expected cost by every later score (the intraday guard's charge)."""
        return self._arrays["penalty"]

    def set_penalty(self, penalty_bps: np.ndarray) -> None:
        """Charge each venue ``penalty_bps`` (V,) in the kernel's own array (no reallocation)."""
        self._arrays["penalty"][:] = penalty_bps

    def score_into(self, n: int, x_ptr: int, out: tuple[int, int, int, int, int, int]) -> int:
        """Score ``n`` orders from raw buffer addresses (the hot path: no allocation, ~0.5 µs overhead).
        ``out`` = addresses of (p, s, cost, fallback, order, bad). Returns the number of bad orders."""
        return int(self._fn(self.model_ptr, n, x_ptr, *out))

    def score(self, x: np.ndarray) -> Scores:
        x = np.ascontiguousarray(x, dtype=np.float64)
        n, nv, nf = x.shape
        if nv != len(self.venues) or nf != self.n_feat:
            raise ValueError(f"X shape {x.shape} != (n, {len(self.venues)}, {self.n_feat})")
        p, s, cost = np.empty((n, nv)), np.empty((n, nv)), np.empty((n, nv))
        fb, order, bad = np.empty(n), np.empty((n, nv), np.int32), np.empty(n, np.uint8)
        self.score_into(n, x.ctypes.data, (p.ctypes.data, s.ctypes.data, cost.ctypes.data, fb.ctypes.data,
                                           order.ctypes.data, bad.ctypes.data))
        return Scores(p, s, cost, fb, order, bad.astype(bool))


def buffers(scorer: CompiledScorer, n: int, n_order: int, config: object, *,
            per_row_stats: bool = False) -> RouteBuffers:
    """RouteBuffers for ``scorer`` with the allocation settings of ``config`` (an AllocationConfig)."""
    return RouteBuffers(scorer, n, n_order, per_row_stats=per_row_stats,
                        max_venues=int(getattr(config, "max_venues", 4)),
                        max_adv_share=float(getattr(config, "max_adv_share", 0.01)),
                        lot=int(getattr(config, "lot", 1)), use_displayed=bool(getattr(config, "use_displayed", True)))


def make_scorer(model: RouterModel, cache_dir: Path | None = None,
                prefer: str = "compiled") -> CompiledScorer | ReferenceScorer:
    """The compiled scorer, or the XGBoost reference scorer if compiling/flattening is not possible
    (logged as a warning) or ``prefer == "xgboost"``."""
    if prefer == "compiled":
        try:
            return CompiledScorer(model, cache_dir)
        except (OSError, subprocess.SubprocessError, UnsupportedModel, ValueError) as exc:
            log.warning("router: compiled scorer unavailable (%s); using the XGBoost reference scorer", exc)
    return ReferenceScorer(model)
