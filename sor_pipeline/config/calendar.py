"""Trading calendar from ``exchange_calendars`` (XNYS by default, ``Settings.market.calendar``): sessions,
holidays, early closes and session open/close; ``Settings.market.holidays`` stays as an override (extra
non-trading days, e.g. an unscheduled closure). The one session-hours definition the schedule, the
backfill, the monitor and the simulator use.

``SESSION_OPEN`` / ``SESSION_CLOSE`` (and the seconds forms) are the calendar's *regular* hours, read from
``exchange_calendars``; a given day's hours (an early close: 13:00 the day after Thanksgiving) come from
:func:`session_bounds`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

#: Exchange calendar used when none is named (ISO 10383 MIC, as ``exchange_calendars`` names them).
DEFAULT_CALENDAR = "XNYS"
#: First and last years the calendars are built for.
_FIRST, _LAST = "2000-01-01", "2040-12-31"


@cache
def exchange_calendar(name: str = DEFAULT_CALENDAR) -> Any:
    """The ``exchange_calendars`` calendar ``name`` (cached; ValueError naming the code if unknown)."""
    import exchange_calendars as xc

    try:
        return xc.get_calendar(name, start=_FIRST, end=_LAST)
    except xc.errors.InvalidCalendarName as exc:
        raise ValueError(f"unknown exchange calendar {name!r} (exchange_calendars codes, e.g. XNYS, XNAS, "
                         f"XLON)") from exc


def _regular(name: str, which: str) -> time:
    """The calendar's regular open/close time (a class attribute: no session schedule is built)."""
    import exchange_calendars as xc
    from exchange_calendars.calendar_utils import _default_calendar_factories as factories

    cls = factories.get(xc.resolve_alias(name)) if name not in factories else factories[name]
    if cls is None:
        raise ValueError(f"unknown exchange calendar {name!r}")
    times = cls.open_times if which == "open" else cls.close_times
    return times[-1][1]  # the rule in force now: ((since, time), ...)


def _hhmm(t: time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def _seconds(hhmm: str) -> float:
    t = time.fromisoformat(hhmm)
    return float(t.hour * 3600 + t.minute * 60)


def __getattr__(name: str) -> Any:
    """``SESSION_OPEN`` / ``SESSION_CLOSE`` (HH:MM, the default calendar's regular hours in its time zone),
    ``SESSION_OPEN_S`` (seconds after local midnight) and ``SESSION_LEN_S`` (regular length, seconds):
    read from exchange_calendars on first use (importing it costs seconds, so not at import)."""
    if name == "SESSION_OPEN":
        return _hhmm(_regular(DEFAULT_CALENDAR, "open"))
    if name == "SESSION_CLOSE":
        return _hhmm(_regular(DEFAULT_CALENDAR, "close"))
    if name == "SESSION_OPEN_S":
        return _seconds(_hhmm(_regular(DEFAULT_CALENDAR, "open")))
    if name == "SESSION_LEN_S":
        return _seconds(_hhmm(_regular(DEFAULT_CALENDAR, "close"))) - _seconds(_hhmm(_regular(DEFAULT_CALENDAR,
                                                                                                "open")))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def session_bounds(day: date, tz: str, open_hhmm: str | None = None, close_hhmm: str | None = None,
                   calendar: str = DEFAULT_CALENDAR) -> tuple[datetime, datetime]:
    """Session open and close of ``day`` as UTC datetimes: the exchange calendar's (early closes
    included; a day that is not a session gets the regular hours), or ``open_hhmm``/``close_hhmm`` in
    ``tz`` where given (an explicit override)."""
    cal = exchange_calendar(calendar)
    if open_hhmm is None or close_hhmm is None:
        if cal.is_session(day.isoformat()):
            o = cal.session_open(day.isoformat()).to_pydatetime().astimezone(UTC)
            c = cal.session_close(day.isoformat()).to_pydatetime().astimezone(UTC)
        else:
            zone = ZoneInfo(str(cal.tz))
            o = datetime.combine(day, _regular(calendar, "open"), zone).astimezone(UTC)
            c = datetime.combine(day, _regular(calendar, "close"), zone).astimezone(UTC)
        if open_hhmm is None and close_hhmm is None:
            return o, c
    zone = ZoneInfo(tz)
    if open_hhmm is not None:
        o = datetime.combine(day, time.fromisoformat(open_hhmm), zone).astimezone(UTC)
    if close_hhmm is not None:
        c = datetime.combine(day, time.fromisoformat(close_hhmm), zone).astimezone(UTC)
    return o, c


@cache
def early_close_lengths_s(calendar: str = DEFAULT_CALENDAR) -> dict[date, float]:
    """Session length in seconds of every early-close day of the calendar (a half-day: 12 600 s on XNYS);
    other sessions last ``SESSION_LEN_S``. For per-day time-of-day / time-to-close features."""
    cal = exchange_calendar(calendar)
    out: dict[date, float] = {}
    for d in cal.early_closes:
        day = d.date()
        if cal.is_session(day.isoformat()):
            o, c = cal.session_open(day.isoformat()), cal.session_close(day.isoformat())
            out[day] = (c - o).total_seconds()
    return out


def is_early_close(day: date, calendar: str = DEFAULT_CALENDAR) -> bool:
    """Whether ``day`` is a session that closes before the regular close (a half-day)."""
    return day in early_close_lengths_s(calendar)


def is_trading_day(day: date, holidays: Iterable[date] = (), calendar: str = DEFAULT_CALENDAR) -> bool:
    """A session of the exchange calendar and not in the ``holidays`` override."""
    return bool(exchange_calendar(calendar).is_session(day.isoformat())) and day not in set(holidays)


def trading_days(start: date, end: date, holidays: Iterable[date] = (),
                 calendar: str = DEFAULT_CALENDAR) -> list[date]:
    """Trading days in [start, end], inclusive."""
    if end < start:
        return []
    hol = set(holidays)
    sessions = exchange_calendar(calendar).sessions_in_range(start.isoformat(), end.isoformat())
    return [d.date() for d in sessions if d.date() not in hol]


def next_trading_days(start: date, n: int, holidays: Iterable[date] = (),
                      calendar: str = DEFAULT_CALENDAR) -> list[date]:
    """The first ``n`` trading days on or after ``start``."""
    hol = set(holidays)
    out: list[date] = []
    d = start
    while len(out) < n:
        if is_trading_day(d, hol, calendar):
            out.append(d)
        d += timedelta(days=1)
    return out


def previous_trading_day(day: date, holidays: Iterable[date] = (), calendar: str = DEFAULT_CALENDAR) -> date:
    hol = set(holidays)
    d = day - timedelta(days=1)
    while not is_trading_day(d, hol, calendar):
        d -= timedelta(days=1)
    return d


def market_today(timezone: str = "America/New_York") -> date:
    """Today's date in the market's time zone (the trading date a post-close schedule runs for)."""
    return datetime.now(ZoneInfo(timezone)).date()
