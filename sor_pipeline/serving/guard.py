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
so the logged propensity stays exact. One definition for the live router and the simulator's logging router.

Across days: a nightly retrain that learns a shift is promoted a night or two later at best, so the morning
after a venue turned toxic the same champion routes again at yesterday's prices. While the same model version
routes, the guard therefore keeps the tallies of the last ``carry_days`` trading days it routed
(:meth:`VenueGuard.start_day`) and charges the largest of the bounds on today's fills, today's plus
yesterday's, ... up to ``carry_days`` days back. Windows, not a pooled or discounted history: the guard soon
stops routing to a venue it charges, so a toxic day leaves only a handful of fills, and pooling them with
the venue's clean days before it (or discounting them, which widens their bound) hid them the next morning
(measured on the default story: the morning after the shift still sent DRK2 26 rank-1 decisions at
+3.9 bps of regret each). Today's window alone keeps the reaction to a venue turning toxic today as fast
as without history; a charge carried from a toxic day lasts ``carry_days`` days unless a new version is
promoted, and today's fills at the venue confirm or dilute it. The tallies are a small JSON checkpoint
(:meth:`VenueGuard.state`), written by the router at the end of the session and read by the next one of
the same version; a new version starts blank (the excess is measured against one model's predictions).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from sor_pipeline.config.guard import GuardParams

__all__ = ["GuardParams", "VenueGuard"]


class VenueGuard:
    """Per-venue tallies of model-routed rank-1 children (``venues`` fixes the index order): this session's,
    the rest of today's and those of the last ``carry_days`` trading days (see the module doc)."""

    #: Rows of a tallies array: children sent, children filled with a known excess, sum and sum of squares
    #: of the excess (bps).
    FIELDS = ("sent", "filled", "sum_excess", "sum_excess2")

    def __init__(self, venues: Sequence[str], params: GuardParams | None = None) -> None:
        self.venues = list(venues)
        self.params = params or GuardParams()
        self._index = {v: i for i, v in enumerate(self.venues)}
        self.reset()

    def reset(self) -> None:
        """Forget everything, earlier days included."""
        shape = (len(self.FIELDS), len(self.venues))
        self.day: date | None = None
        self._past: list[tuple[date, np.ndarray]] = []  # earlier days' tallies, newest first
        self._day_own = np.zeros(shape)  # observed on ``day`` (every session of it)
        self._cur = np.zeros(shape)  # observed since the last start_day

    def start_day(self, day: date) -> None:
        """A session of ``day`` starts. On a new day the previous one joins the carried days (the oldest
        beyond ``carry_days`` is dropped); another session of the same day (the simulator's next symbol
        group) starts from the same carried days, never from what an earlier session of the day saw."""
        if day != self.day:
            if self.day is not None and self._day_own[0].sum() > 0:
                self._past.insert(0, (self.day, self._day_own))
            self._past = self._past[:max(0, self.params.carry_days)]
            self._day_own = np.zeros_like(self._cur)
            self.day = day
        self._cur = np.zeros_like(self._day_own)

    @property
    def tallies(self) -> np.ndarray:
        """(4, V) this session's evidence plus every carried day's (rows: :attr:`FIELDS`)."""
        return self._cur + sum((t for _, t in self._past), np.zeros_like(self._cur))

    @property
    def sent(self) -> np.ndarray:
        return self.tallies[0]

    @property
    def filled(self) -> np.ndarray:
        return self.tallies[1]

    def observe(self, venues: Sequence[str], filled: np.ndarray, excess_bps: np.ndarray) -> None:
        """Children's outcomes: venue, filled (bool) and, where filled, realised minus predicted slippage
        (bps, + = it cost more than predicted; NaN where unfilled or not predicted). Unknown venues are ignored."""
        idx = np.array([self._index.get(v, -1) for v in venues], dtype=np.int64)
        known = idx >= 0
        f = np.asarray(filled, dtype=bool) & known
        e = np.asarray(excess_bps, dtype=np.float64)
        ok = f & np.isfinite(e)
        add = np.zeros_like(self._cur)
        np.add.at(add[0], idx[known], 1.0)
        np.add.at(add[1], idx[ok], 1.0)
        np.add.at(add[2], idx[ok], e[ok])
        np.add.at(add[3], idx[ok], e[ok] ** 2)
        self._cur += add
        self._day_own += add

    def penalty_bps(self) -> np.ndarray:
        """(V,) bps added to each venue's expected cost (0 where not charged), in ``venues`` order: the
        largest charge over the windows this session, this session plus yesterday, ... plus every carried
        day (see the module doc)."""
        out = np.zeros(len(self.venues))
        if not self.params.enabled:
            return out
        window = self._cur.copy()
        out = self._charge(window)
        for _, t in self._past:
            window = window + t
            out = np.maximum(out, self._charge(window))
        return out

    def _charge(self, tallies: np.ndarray) -> np.ndarray:
        sent, n, s1, s2 = tallies
        ok = n >= max(2, self.params.min_fills)
        if not ok.any():
            return np.zeros(len(self.venues))
        mean = np.where(ok, s1 / np.maximum(n, 1), 0.0)
        var = np.where(ok, (s2 - n * mean ** 2) / np.maximum(n - 1, 1), 0.0)
        bound = mean - self.params.z * np.sqrt(np.maximum(var, 0.0) / np.maximum(n, 1))
        rate = np.where(sent > 0, n / np.maximum(sent, 1), 0.0)
        return np.where(ok, np.clip(rate, 0.0, 1.0) * np.maximum(bound, 0.0), 0.0)

    def penalties(self) -> dict[str, float]:
        """{venue: penalty_bps} of the venues charged now."""
        return {v: float(p) for v, p in zip(self.venues, self.penalty_bps(), strict=True) if p > 0}

    def state(self) -> dict[str, Any]:
        """JSON-able checkpoint: the day, its own tallies and the carried days' per venue."""
        def block(t: np.ndarray) -> dict[str, list[float]]:
            return {f: t[i].tolist() for i, f in enumerate(self.FIELDS)}

        return {"day": self.day.isoformat() if self.day else None, "venues": self.venues,
                "day_own": block(self._day_own),
                "past": [{"day": d.isoformat(), **block(t)} for d, t in self._past]}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state` checkpoint (venues matched by name; unknown ones dropped). The next
        :meth:`start_day` of a later day carries it as if this guard had lived through that day."""
        self.reset()
        self.day = date.fromisoformat(state["day"]) if state.get("day") else None
        pos = [(self._index[v], j) for j, v in enumerate(state.get("venues", [])) if v in self._index]

        def read(block: dict[str, Any]) -> np.ndarray:
            arr = np.zeros_like(self._cur)
            for i, f in enumerate(self.FIELDS):
                values = block.get(f) or []
                for k, j in pos:
                    if j < len(values) and np.isfinite(values[j]):
                        arr[i, k] = float(values[j])
            return arr

        self._day_own = read(state.get("day_own") or {})
        self._past = [(date.fromisoformat(b["day"]), read(b)) for b in state.get("past", [])]
