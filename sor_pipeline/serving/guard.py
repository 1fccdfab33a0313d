"""The router's intraday venue guard: a venue whose fills today cost clearly more than the model predicted
is charged that excess for the rest of the day.

A nightly batch reacts to a venue that changes behaviour one night later at best: the day it turns toxic,
the champion keeps routing there at yesterday's prices (the default story's shift day cost +0.9 bps per
decision over the static waterfall). The guard watches what production sees within the day: for every
model-routed rank-1 child that filled, its realised arrival slippage (bps, + = cost, fees included:
:func:`sor_pipeline.features.labels.signed_slippage_bps`, the label's own definition) minus the
slippage the model predicted for it.
Per venue, with ``n`` such fills, mean excess ``m`` and standard error ``se``, once ``n >= min_fills`` the
venue's expected cost is raised by::

    penalty_bps = fill_rate * max(0, m - z * se)

(``fill_rate`` = the venue's filled share of today's observed rank-1 children): the lower confidence bound
of the excess, so noise alone seldom charges anything, a +12 bps toxic pool is charged after a handful of
fills, and a venue that turns out cheaper than predicted is never rewarded (one-sided: the guard protects,
the nightly retrain learns). The penalty only re-ranks: every draw's probability is computed after it,
so the logged propensity stays exact. The state is the day's; :meth:`VenueGuard.reset` starts a new one.
One definition for the live router and the simulator's logging router.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sor_pipeline.config.guard import GuardParams

__all__ = ["GuardParams", "VenueGuard"]


class VenueGuard:
    """Per-venue tallies of today's model-routed rank-1 children (``venues`` fixes the index order)."""

    def __init__(self, venues: Sequence[str], params: GuardParams | None = None) -> None:
        self.venues = list(venues)
        self.params = params or GuardParams()
        self._index = {v: i for i, v in enumerate(self.venues)}
        self.reset()

    def reset(self) -> None:
        nv = len(self.venues)
        self.sent = np.zeros(nv)
        self.filled = np.zeros(nv)
        self.sum_excess = np.zeros(nv)
        self.sum_excess2 = np.zeros(nv)

    def observe(self, venues: Sequence[str], filled: np.ndarray, excess_bps: np.ndarray) -> None:
        """Children's outcomes: venue, filled (bool) and, where filled, realised minus predicted slippage
        (bps, + = it cost more than predicted; NaN where unfilled or not predicted). Unknown venues are ignored."""
        idx = np.array([self._index.get(v, -1) for v in venues], dtype=np.int64)
        known = idx >= 0
        f = np.asarray(filled, dtype=bool) & known
        e = np.asarray(excess_bps, dtype=np.float64)
        ok = f & np.isfinite(e)
        np.add.at(self.sent, idx[known], 1.0)
        np.add.at(self.filled, idx[ok], 1.0)
        np.add.at(self.sum_excess, idx[ok], e[ok])
        np.add.at(self.sum_excess2, idx[ok], e[ok] ** 2)

    def penalty_bps(self) -> np.ndarray:
        """(V,) bps added to each venue's expected cost (0 where not charged), in ``venues`` order."""
        out = np.zeros(len(self.venues))
        if not self.params.enabled:
            return out
        n = self.filled
        ok = n >= max(2, self.params.min_fills)
        if not ok.any():
            return out
        mean = np.where(ok, self.sum_excess / np.maximum(n, 1), 0.0)
        var = np.where(ok, (self.sum_excess2 - n * mean ** 2) / np.maximum(n - 1, 1), 0.0)
        bound = mean - self.params.z * np.sqrt(np.maximum(var, 0.0) / np.maximum(n, 1))
        rate = np.where(self.sent > 0, n / np.maximum(self.sent, 1), 0.0)
        return np.where(ok, rate * np.maximum(bound, 0.0), 0.0)

    def penalties(self) -> dict[str, float]:
        """{venue: penalty_bps} of the venues charged now."""
        return {v: float(p) for v, p in zip(self.venues, self.penalty_bps(), strict=True) if p > 0}
