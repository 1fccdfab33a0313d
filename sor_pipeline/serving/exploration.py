"""Exploration of the rank-1 venue, with the exact probability of every choice (the propensity).

Off-policy evaluation needs every decision's probability, and needs the venues a challenger might
prefer to be tried now and then. Uniform epsilon-greedy spends its exploration on clearly bad venues;
this explores where the choice is uncertain:

- a model-scored request draws its rank-1 venue from ``(1 - k * floor) * softmax(-cost / T) + floor``
  over its ``k`` available venues (costs in bps, + = cost; ``T`` = ``temperature_bps``): venues within
  about ``T`` bps of the best share the decisions, a venue 5 T worse gets about the floor; that mixture
  gives up ``static_share`` of its mass to the static waterfall's first available venue (when the caller
  names it), so static's choice is always logged often enough to be evaluated off-policy (weights at
  most ``1 / static_share``): the safe default is a candidate each night, and demoting a champion that
  became costlier than static needs that evidence soon after a shift;
- a request ranked without scores (the static waterfall) keeps its rank-1 venue with probability
  ``1 - static_epsilon`` and draws uniformly among its available venues otherwise;
- while static routes and a registered challenger exists, that challenger is the *scout*: the request
  keeps the static venue with probability ``1 - static_epsilon`` and draws from the scout's softmax
  otherwise (:func:`scout_params`): exploration where the next challenger would route — the support
  its evaluation needs — at little or negative cost, instead of uniformly over bad venues.

The rest of the waterfall keeps its order behind the drawn venue. One definition for the live router
(:class:`sor_pipeline.serving.live.LiveRouter`) and the simulator's logging router.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sor_pipeline.config.exploration import ExplorationParams

__all__ = ["ExplorationParams", "draw", "rank1_probabilities", "scout_params"]


def scout_params(params: ExplorationParams) -> ExplorationParams:
    """Parameters for a static route steered by a scout's scores: the static venue keeps
    ``1 - static_epsilon`` of the draws (its "static share"), the scout's softmax gets the rest."""
    return replace(params, static_share=1.0 - params.static_epsilon)


def rank1_probabilities(costs: np.ndarray, top: np.ndarray, available: np.ndarray,
                        params: ExplorationParams, static_top: np.ndarray | None = None) -> np.ndarray:
    """(n, V) probability of each venue being drawn as rank 1 (rows sum to 1 over available venues).

    ``costs``: (n, V) expected costs, bps (NaN = not scored); ``top``: (n,) index of the ranking's
    rank-1 venue; ``available``: (n, V) bool, the venues the request may go to; ``static_top``: (n,)
    index of the static waterfall's first available venue (-1 or None = none: no static share)."""
    n, nv = available.shape
    avail = available.astype(bool)
    k = np.maximum(avail.sum(axis=1, keepdims=True), 1)
    onehot = np.zeros((n, nv))
    onehot[np.arange(n), top] = 1.0
    if not params.enabled:
        return onehot
    scored = np.isfinite(costs) & avail
    row_scored = scored.any(axis=1)
    uniform = avail / k
    static = (1.0 - params.static_epsilon) * onehot + params.static_epsilon * uniform
    c = np.where(scored, costs, np.inf)
    best = np.min(c, axis=1, keepdims=True)
    z = np.where(scored, np.exp(-(c - np.where(np.isfinite(best), best, 0.0)) / max(params.temperature_bps, 1e-9)),
                 0.0)
    soft = z / np.maximum(z.sum(axis=1, keepdims=True), 1e-300)
    floor = min(params.floor, 1.0 / float(nv))
    mixed = (1.0 - k * floor) * soft + floor * avail
    if static_top is not None and params.static_share > 0:
        st = np.asarray(static_top, dtype=np.int64)
        has = (st >= 0) & avail[np.arange(n), np.maximum(st, 0)]
        share = np.where(has, params.static_share, 0.0)[:, None]
        to_static = np.zeros((n, nv))
        to_static[np.arange(n)[has], st[has]] = 1.0
        mixed = (1.0 - share) * mixed + share * to_static
    return np.where(row_scored[:, None], mixed, static)


def draw(probs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(chosen venue index, its probability) per row, by inverse-CDF on one uniform draw per row."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    chosen = np.minimum((cdf < u[:, None]).sum(axis=1), probs.shape[1] - 1)
    return chosen, probs[np.arange(probs.shape[0]), chosen]
