"""A routing request as the online path sees it: :class:`Order` and :class:`MarketSnapshot`.

Units and signs (docs/DESIGN.md): quantities in shares (int), prices in the instrument currency, times
as UTC epoch nanoseconds (int). ``s`` = +1 for BUY, -1 for SELL. Plain slotted dataclasses (building
one costs well under a microsecond, no polars/pandas): the inputs of the online features
(:mod:`sor_pipeline.features.online`) and of the live router (:mod:`sor_pipeline.serving`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

NS_PER_S = 1_000_000_000
NAN = float("nan")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ns(ts: datetime) -> int:
    """A timezone-aware datetime as UTC epoch nanoseconds (µs precision, like datetime itself)."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: give a timezone-aware (UTC) timestamp")
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


@dataclass(slots=True)
class Order:
    """One order (or parent slice) to route now.

    ``side`` BUY/SELL; ``qty`` shares (> 0); ``order_type`` MKT/LMT; ``tif`` IOC/DAY; ``limit_px`` the
    limit price (None for MKT); ``urgency`` LOW/MEDIUM/HIGH; ``ts`` decision time, UTC epoch ns."""

    symbol: str
    side: str
    qty: int
    order_type: str = "MKT"
    tif: str = "IOC"
    limit_px: float | None = None
    urgency: str = "MEDIUM"
    ts: int = 0
    order_id: str = ""


@dataclass(slots=True)
class MarketSnapshot:
    """What the router knows about ``symbol`` at ``ts`` (UTC epoch ns), all point-in-time.

    - ``bid_px``/``ask_px``/``mid_px``: NBBO (NaN if no quote yet); ``mid_px`` defaults to (bid+ask)/2.
    - ``bid_sz``/``ask_sz``: consolidated lit book sizes (shares) at levels 1..5, summed across lit
      venues (see :meth:`from_venue_depth`); None = no book yet. Missing levels count as 0.
    - ``rvol_5m_bps``: realized volatility of the mid over the trailing window, bps (see
      :func:`sor_pipeline.features.online.realized_vol_bps` to compute it from a mid path).
    - ``adv``: trailing average daily volume, shares/day (earlier days only); None = unknown.
    - ``venue_stats``: venue -> the five ``venue_*_20d`` values (FEATURE_COLUMNS order; None = unknown).
      Reuse the same mapping object across orders (the router caches its conversion by identity) and
      never mutate it in place: pass a new mapping when the statistics change.
    - ``displayed``: venue -> far-side displayed shares usable now (allocation caps only, not a feature);
      a buy reads asks, a sell bids. Venues absent (e.g. dark pools) are capped by ADV share only.
    """

    symbol: str
    ts: int
    bid_px: float
    ask_px: float
    mid_px: float = NAN
    bid_sz: Sequence[float] | None = None
    ask_sz: Sequence[float] | None = None
    rvol_5m_bps: float | None = None
    adv: float | None = None
    venue_stats: Mapping[str, Sequence[float | None]] | None = None
    displayed: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.mid_px != self.mid_px:  # NaN: derive from the quote
            self.mid_px = (self.bid_px + self.ask_px) / 2.0

    @staticmethod
    def consolidate(books: Mapping[str, Sequence[float | None]]) -> list[float]:
        """Sum per-venue 5-level sizes (shares) level by level; None levels count as 0."""
        out = [0.0] * 5
        for sizes in books.values():
            for k, v in enumerate(sizes[:5]):
                if v is not None:
                    out[k] += float(v)
        return out

    @classmethod
    def from_venue_depth(cls, symbol: str, ts: int, bid_px: float, ask_px: float,
                         bid_books: Mapping[str, Sequence[float | None]],
                         ask_books: Mapping[str, Sequence[float | None]], **kw: object) -> MarketSnapshot:
        """Snapshot from per-lit-venue 5-level books (shares per level, None = empty level), consolidated
        level by level; other fields (``displayed``, ``adv``, ...) pass through ``kw``."""
        return cls(symbol=symbol, ts=ts, bid_px=bid_px, ask_px=ask_px,
                   bid_sz=cls.consolidate(bid_books) if bid_books else None,
                   ask_sz=cls.consolidate(ask_books) if ask_books else None, **kw)  # type: ignore[arg-type]
