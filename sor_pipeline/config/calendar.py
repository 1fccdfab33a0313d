"""Trading calendar: weekdays minus a configurable holiday list (Settings.market.holidays), and the
regular US equity session (09:30-16:00 market time): the one definition the features, the monitor and
the simulator use."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Regular session open and close, HH:MM in the market's time zone.
SESSION_OPEN = "09:30"
SESSION_CLOSE = "16:00"


def _seconds(hhmm: str) -> float:
    t = time.fromisoformat(hhmm)
    return float(t.hour * 3600 + t.minute * 60)


#: The same as seconds after local midnight, and the session's length in seconds.
SESSION_OPEN_S = _seconds(SESSION_OPEN)
SESSION_LEN_S = _seconds(SESSION_CLOSE) - SESSION_OPEN_S


def session_bounds(day: date, tz: str, open_hhmm: str = SESSION_OPEN,
                   close_hhmm: str = SESSION_CLOSE) -> tuple[datetime, datetime]:
    """Session open and close of ``day`` as UTC datetimes (DST-aware)."""
    zone = ZoneInfo(tz)
    o, c = time.fromisoformat(open_hhmm), time.fromisoformat(close_hhmm)
    return (datetime.combine(day, o, zone).astimezone(UTC), datetime.combine(day, c, zone).astimezone(UTC))


def is_trading_day(day: date, holidays: Iterable[date] = ()) -> bool:
    return day.weekday() < 5 and day not in set(holidays)


def trading_days(start: date, end: date, holidays: Iterable[date] = ()) -> list[date]:
    """Trading days in [start, end], inclusive."""
    hol = set(holidays)
    out: list[date] = []
    d = start
    while d <= end:
        if is_trading_day(d, hol):
            out.append(d)
        d += timedelta(days=1)
    return out


def next_trading_days(start: date, n: int, holidays: Iterable[date] = ()) -> list[date]:
    """The first ``n`` trading days on or after ``start``."""
    hol = set(holidays)
    out: list[date] = []
    d = start
    while len(out) < n:
        if is_trading_day(d, hol):
            out.append(d)
        d += timedelta(days=1)
    return out


def previous_trading_day(day: date, holidays: Iterable[date] = ()) -> date:
    hol = set(holidays)
    d = day - timedelta(days=1)
    while not is_trading_day(d, hol):
        d -= timedelta(days=1)
    return d


def market_today(timezone: str = "America/New_York") -> date:
    """Today's date in the market's time zone (the trading date a post-close schedule runs for)."""
    return datetime.now(ZoneInfo(timezone)).date()
