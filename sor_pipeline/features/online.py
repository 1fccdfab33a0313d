"""Online (one order, pure Python) versions of the batch routing features.

The batch definitions live in :mod:`sor_pipeline.features.decision` (polars); this module restates the
same per-row formulas on scalars so that one order costs a few µs, and the test
``tests/unit/test_router_features.py`` pins the two paths together to 1e-9 on the same events
(snapshots rebuilt at each child's ``sent_ts`` from canonical frames with :func:`snapshot_at`).
Constants (urgency codes, column lists, session hours) are imported from, or checked against, the
batch module so that a change there cannot silently diverge here.

Units and signs (``s`` = +1 BUY, -1 SELL): ``limit_distance_bps`` = s*(limit_px - mid)/mid*1e4;
``spread_bps`` = (ask - bid)/mid*1e4; ``imbalance_5`` = (bid5 - ask5)/(bid5 + ask5) on the consolidated
lit book; ``rvol_5m_bps`` = sqrt(sum of squared mid log-returns over the trailing window)*1e4;
``size_vs_top3`` = qty / far-side shares at levels 1..3; ``rel_size_adv`` = qty / ADV (shares/day);
``time_of_day`` = fraction of the day's session elapsed (local market time; a half-day closes early), clipped to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from schemas.features import FEATURE_COLUMNS, MODEL_FEATURES
from sor_pipeline.config.calendar import DEFAULT_CALENDAR, SESSION_LEN_S, SESSION_OPEN_S, early_close_lengths_s
from sor_pipeline.features.decision import URGENCY_CODES, VENUE_STAT_COLUMNS
from sor_pipeline.features.request import NAN, NS_PER_S, MarketSnapshot, Order

#: Venue-independent features, in the order :func:`order_features` returns them.
ORDER_FEATURES: list[str] = ["side_sign", "is_mkt", "is_ioc", "urgency_code", "limit_distance_bps", "rel_size_adv",
                             "spread_bps", "imbalance_5", "rvol_5m_bps", "size_vs_top3", "time_of_day"]
#: Every feature the online path can produce: ORDER_FEATURES then the venue trailing statistics.
ALL_FEATURES: list[str] = ORDER_FEATURES + list(VENUE_STAT_COLUMNS)
assert set(ALL_FEATURES) == set(FEATURE_COLUMNS), "online features out of sync with schemas.features"
assert set(MODEL_FEATURES) <= set(ALL_FEATURES), "model inputs the online path cannot produce"

_HOUR_NS = 3600 * NS_PER_S
_DAY_S = 86_400


class TimeOfDay:
    """``time_of_day`` for UTC epoch-ns timestamps, with the zone's UTC offset cached per UTC hour
    (offsets only change on hour boundaries), so one call costs ~0.3 µs after the first."""

    def __init__(self, timezone: str = "America/New_York", calendar: str = DEFAULT_CALENDAR) -> None:
        self.zone = ZoneInfo(timezone)
        self.calendar = calendar
        self._offsets: dict[int, int] = {}
        self._lengths: dict[int, float] = {}

    def length_s(self, local_day: int) -> float:
        """Session length (s) of the local day ``local_day`` (days since 1970-01-01): the calendar's,
        shorter on a half-day; cached per day."""
        out = self._lengths.get(local_day)
        if out is None:
            day = date(1970, 1, 1) + timedelta(days=local_day)
            out = self._lengths[local_day] = float(early_close_lengths_s(self.calendar).get(day, SESSION_LEN_S))
        return out

    def offset_ns(self, ts_ns: int) -> int:
        hour = ts_ns // _HOUR_NS
        off = self._offsets.get(hour)
        if off is None:
            delta = datetime.fromtimestamp(hour * 3600, tz=UTC).astimezone(self.zone).utcoffset()
            off = int(delta.total_seconds()) * NS_PER_S if delta is not None else 0
            self._offsets[hour] = off
        return off

    def __call__(self, ts_ns: int) -> float:
        """Fraction of the session elapsed at ``ts_ns``, in [0, 1] (same float steps as the batch)."""
        local = ts_ns + self.offset_ns(ts_ns)
        secs = float((local // NS_PER_S) % _DAY_S) + float(local % NS_PER_S) / 1e9
        return min(max((secs - SESSION_OPEN_S) / self.length_s(local // (_DAY_S * NS_PER_S)), 0.0), 1.0)


def order_features(order: Order, snap: MarketSnapshot, tod: TimeOfDay) -> tuple[float, ...]:
    """The ORDER_FEATURES of one order (NaN = missing, as XGBoost expects), from scalars only."""
    buy = order.side == "BUY"
    s = 1.0 if buy else -1.0
    mid = snap.mid_px
    otype = order.order_type
    qty = order.qty
    lim = order.limit_px
    if mid > 0:
        spread = (snap.ask_px - snap.bid_px) / mid * 1e4
        ld = s * (lim - mid) / mid * 1e4 if (otype == "LMT" and lim is not None) else NAN
    else:
        spread = ld = NAN
    adv = snap.adv
    rel = qty / adv if (adv is not None and adv > 0) else NAN
    b, a = snap.bid_sz, snap.ask_sz
    if b is None or a is None:
        imb = top3 = NAN
    else:
        b5 = b[0] + b[1] + b[2] + b[3] + b[4]
        a5 = a[0] + a[1] + a[2] + a[3] + a[4]
        d5 = b5 + a5
        imb = (b5 - a5) / d5 if d5 > 0 else NAN
        far3 = (a[0] + a[1] + a[2]) if buy else (b[0] + b[1] + b[2])
        top3 = qty / far3 if far3 > 0 else NAN
    rv = snap.rvol_5m_bps
    return (s, 1.0 if otype == "MKT" else 0.0, 1.0 if order.tif == "IOC" else 0.0,
            URGENCY_CODES.get(order.urgency, NAN), ld, rel, spread, imb, NAN if rv is None else rv, top3,
            tod(order.ts))


def order_features_batch(orders: Sequence[Order], snaps: Sequence[MarketSnapshot], tod: TimeOfDay) -> np.ndarray:
    """(n, 11) ORDER_FEATURES of many orders, vectorised: the same IEEE operations in the same order as
    :func:`order_features` (the tests check equality), ~1 µs per order instead of ~3."""
    nan = np.nan
    has_book = [x.bid_sz is not None and x.ask_sz is not None for x in snaps]
    empty = [nan] * 5
    return order_features_columns(
        buy=np.array([o.side == "BUY" for o in orders], dtype=bool),
        qty=np.array([o.qty for o in orders], dtype=np.float64),
        is_mkt=np.array([o.order_type == "MKT" for o in orders], dtype=bool),
        is_ioc=np.array([o.tif == "IOC" for o in orders], dtype=bool),
        urgency_code=np.array([URGENCY_CODES.get(o.urgency, NAN) for o in orders], dtype=np.float64),
        is_lmt=np.array([o.order_type == "LMT" and o.limit_px is not None for o in orders], dtype=bool),
        limit_px=np.array([nan if o.limit_px is None else o.limit_px for o in orders], dtype=np.float64),
        ts=np.array([o.ts for o in orders], dtype=np.int64),
        bid_px=np.array([x.bid_px for x in snaps], dtype=np.float64),
        ask_px=np.array([x.ask_px for x in snaps], dtype=np.float64),
        mid_px=np.array([x.mid_px for x in snaps], dtype=np.float64),
        bid_sz=np.array([x.bid_sz[:5] if ok else empty for x, ok in zip(snaps, has_book, strict=True)],  # type: ignore[index]
                        dtype=np.float64).reshape(-1, 5),
        ask_sz=np.array([x.ask_sz[:5] if ok else empty for x, ok in zip(snaps, has_book, strict=True)],  # type: ignore[index]
                        dtype=np.float64).reshape(-1, 5),
        rvol_5m_bps=np.array([NAN if x.rvol_5m_bps is None else x.rvol_5m_bps for x in snaps], dtype=np.float64),
        adv=np.array([nan if x.adv is None else x.adv for x in snaps], dtype=np.float64),
        tod=tod)


def order_features_columns(*, buy: np.ndarray, qty: np.ndarray, is_mkt: np.ndarray, is_ioc: np.ndarray,
                           urgency_code: np.ndarray, is_lmt: np.ndarray, limit_px: np.ndarray, ts: np.ndarray,
                           bid_px: np.ndarray, ask_px: np.ndarray, mid_px: np.ndarray, bid_sz: np.ndarray,
                           ask_sz: np.ndarray, rvol_5m_bps: np.ndarray, adv: np.ndarray, tod: TimeOfDay) -> np.ndarray:
    """(n, 11) ORDER_FEATURES from columns (the columnar router's input; :func:`order_features_batch`
    calls it): ``buy``/``is_mkt``/``is_ioc``/``is_lmt`` bool, ``qty`` shares, ``urgency_code`` as
    URGENCY_CODES (NaN unknown), ``limit_px`` (NaN none), ``ts`` UTC ns int64, NBBO prices, ``bid_sz``/
    ``ask_sz`` (n, 5) consolidated lit sizes (NaN rows = no book), ``rvol_5m_bps`` / ``adv`` (NaN unknown)."""
    n = len(qty)
    nan = np.nan
    s = np.where(buy, 1.0, -1.0)
    mid, bid, ask, lim, b, a = mid_px, bid_px, ask_px, limit_px, bid_sz, ask_sz
    out = np.empty((n, len(ORDER_FEATURES)))
    with np.errstate(all="ignore"):
        ok = mid > 0
        out[:, 0] = s
        out[:, 1] = np.where(is_mkt, 1.0, 0.0)
        out[:, 2] = np.where(is_ioc, 1.0, 0.0)
        out[:, 3] = urgency_code
        out[:, 4] = np.where(ok & is_lmt, s * (lim - mid) / mid * 1e4, nan)
        out[:, 5] = np.where(adv > 0, qty / adv, nan)
        out[:, 6] = np.where(ok, (ask - bid) / mid * 1e4, nan)
        b5 = b[:, 0] + b[:, 1] + b[:, 2] + b[:, 3] + b[:, 4]
        a5 = a[:, 0] + a[:, 1] + a[:, 2] + a[:, 3] + a[:, 4]
        d5 = b5 + a5
        out[:, 7] = np.where(d5 > 0, (b5 - a5) / d5, nan)
        out[:, 8] = rvol_5m_bps
        far3 = np.where(buy, a[:, 0] + a[:, 1] + a[:, 2], b[:, 0] + b[:, 1] + b[:, 2])
        out[:, 9] = np.where(far3 > 0, qty / far3, nan)
    ts = np.asarray(ts, dtype=np.int64)
    hours, inverse = np.unique(ts // _HOUR_NS, return_inverse=True)
    local = ts + np.array([tod.offset_ns(int(h) * _HOUR_NS) for h in hours], dtype=np.int64)[inverse]
    secs = ((local // NS_PER_S) % _DAY_S).astype(np.float64) + (local % NS_PER_S).astype(np.float64) / 1e9
    days, day_idx = np.unique(local // (_DAY_S * NS_PER_S), return_inverse=True)
    length = np.array([tod.length_s(int(d)) for d in days], dtype=np.float64)[day_idx]
    out[:, 10] = np.clip((secs - SESSION_OPEN_S) / length, 0.0, 1.0)
    return out


def venue_stats_matrix(venues: Sequence[str], stats: Mapping[str, Sequence[float | None]] | None) -> np.ndarray:
    """(V, 5) float64 matrix of the venue trailing statistics in ``venues`` order; NaN = unknown."""
    out = np.full((len(venues), len(VENUE_STAT_COLUMNS)), np.nan)
    if stats:
        for i, v in enumerate(venues):
            row = stats.get(v)
            if row is not None:
                out[i] = [np.nan if x is None else float(x) for x in row]
    return out


def venue_stats_from_frame(frame: pl.DataFrame | None) -> dict[str, list[float | None]]:
    """venue -> the five ``venue_*_20d`` values from a frame like :func:`venue_stats_before` returns."""
    if frame is None or frame.height == 0:
        return {}
    rows = frame.select("venue", *VENUE_STAT_COLUMNS).iter_rows()
    return {str(r[0]): list(r[1:]) for r in rows}


# --------------------------------------------------------------------------------------------------
# point-in-time snapshot from canonical frames (replay, tests)
def realized_vol_bps(ts: np.ndarray, mid: np.ndarray, t: int, window_s: float = 300.0) -> float | None:
    """Realized volatility (bps) of a sorted mid path at ``t`` (UTC ns): sqrt of the sum of squared
    log-returns between consecutive rows from the last row at or before ``t - window`` (or the first
    row) to the last row at or before ``t``; None if no row at or before ``t``. Same as the batch."""
    now = int(np.searchsorted(ts, t, side="right")) - 1
    if now < 0:
        return None
    back = int(np.searchsorted(ts, t - round(window_s * NS_PER_S), side="right")) - 1
    seg = np.log(mid[max(back, 0): now + 1])
    r = np.diff(seg)
    return math.sqrt(max(float(np.sum(r * r)), 0.0)) * 1e4


def _ns(col: pl.Series) -> np.ndarray:
    return col.cast(pl.Datetime("ns", "UTC")).dt.epoch("ns").to_numpy()


def snapshot_at(nbbo: pl.DataFrame, depth: pl.DataFrame, symbol: str, t: int, *, adv: float | None = None,
                venue_stats: Mapping[str, Sequence[float | None]] | None = None,
                window_s: float = 300.0) -> MarketSnapshot:
    """The MarketSnapshot of ``symbol`` at ``t`` (UTC ns) from canonical ``nbbo`` and ``depth`` frames,
    using only rows stamped at or before ``t`` (ties: the later row in ``ts`` order wins)."""
    nb = nbbo.filter(pl.col("symbol") == symbol).sort("ts", maintain_order=True)
    ts = _ns(nb["ts"])
    i = int(np.searchsorted(ts, t, side="right")) - 1
    if i >= 0:
        bid, ask, mid = float(nb["bid_px"][i]), float(nb["ask_px"][i]), float(nb["mid_px"][i])
        rvol = realized_vol_bps(ts, nb["mid_px"].to_numpy(), t, window_s)
    else:
        bid = ask = mid = NAN
        rvol = None
    dp = depth.filter(pl.col("symbol") == symbol).sort("ts", maintain_order=True)
    dts = _ns(dp["ts"])
    upto = dp.head(int(np.searchsorted(dts, t, side="right")))
    bid_sz: list[float] | None = None
    ask_sz: list[float] | None = None
    displayed: dict[str, float] = {}
    if upto.height:
        last = upto.group_by("venue", maintain_order=True).last()
        sizes = {side: last.select([pl.col(f"{side}_sz_{k}").fill_null(0).cast(pl.Float64)
                                    for k in range(1, 6)]).to_numpy() for side in ("bid", "ask")}
        bid_sz, ask_sz = sizes["bid"].sum(axis=0).tolist(), sizes["ask"].sum(axis=0).tolist()
    return MarketSnapshot(symbol=symbol, ts=t, bid_px=bid, ask_px=ask, mid_px=mid, bid_sz=bid_sz, ask_sz=ask_sz,
                          rvol_5m_bps=rvol, adv=adv, venue_stats=venue_stats, displayed=displayed or None)
