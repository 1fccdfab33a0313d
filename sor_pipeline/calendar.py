"""Trading calendar: weekdays minus a configurable holiday list (Settings.holidays)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


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
