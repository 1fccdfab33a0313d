"""Off-policy estimates of a routing policy's cost from logged routing decisions.

A logged decision ``i`` (a rank-1 child order) was sent to venue ``a_i`` with the logging policy's
probability ``propensity_i`` and realised cost ``r_i`` (bps, + = cost; see
:func:`sor_pipeline.learning.costs.realized_cost_expr`).
For a deterministic target policy ``pi`` choosing venue ``pi(x_i)``, with ``m_i = 1{a_i == pi(x_i)}``:

- IPS:  V = mean_i  m_i / propensity_i * r_i
- DR:   V = mean_i  q(x_i, pi(x_i)) + m_i / propensity_i * (r_i - q(x_i, a_i))

where ``q(x, a)`` is a reward model's predicted expected cost of venue ``a`` (the direct-method term).
Both are unbiased when the propensities are right; DR also when ``q`` is right, and has lower variance.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def ips_terms(cost: np.ndarray, propensity: np.ndarray, match: np.ndarray) -> np.ndarray:
    """Per-decision IPS terms m / p * r (their mean is the IPS estimate), bps."""
    return np.where(match, np.asarray(cost) / np.asarray(propensity), 0.0)


def dr_terms(cost: np.ndarray, propensity: np.ndarray, match: np.ndarray, q_chosen: np.ndarray,
             q_logged: np.ndarray) -> np.ndarray:
    """Per-decision doubly-robust terms q(x, pi(x)) + m / p * (r - q(x, a)), bps."""
    correction = np.where(match, (np.asarray(cost) - np.asarray(q_logged)) / np.asarray(propensity), 0.0)
    return np.asarray(q_chosen, dtype=np.float64) + correction


def policy_terms(decisions: pl.DataFrame, policy: str) -> pl.DataFrame:
    """``decisions`` has one row per request with ``logged_venue``, ``propensity``, ``logged_cost_bps``,
    ``q_logged_bps`` and, for the policy, ``venue_<policy>`` and ``q_<policy>_bps``. Adds
    ``ips_<policy>`` and ``dr_<policy>`` per-request terms (bps)."""
    match = (decisions["logged_venue"] == decisions[f"venue_{policy}"]).fill_null(False).to_numpy()
    cost = decisions["logged_cost_bps"].to_numpy()
    prop = decisions["propensity"].to_numpy()
    ips = ips_terms(cost, prop, match)
    dr = dr_terms(cost, prop, match, decisions[f"q_{policy}_bps"].to_numpy(), decisions["q_logged_bps"].to_numpy())
    return decisions.with_columns(pl.Series(f"ips_{policy}", ips), pl.Series(f"dr_{policy}", dr))
