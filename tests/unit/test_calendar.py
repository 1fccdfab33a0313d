from datetime import date, datetime

import pytest

from sor_pipeline.config.calendar import is_trading_day, next_trading_days, previous_trading_day, trading_days


def test_weekdays_minus_holidays() -> None:
    hol = [date(2024, 7, 4)]
    days = trading_days(date(2024, 7, 1), date(2024, 7, 8), hol)
    assert days == [date(2024, 7, d) for d in (1, 2, 3, 5, 8)]
    assert not is_trading_day(date(2024, 7, 6))
    assert next_trading_days(date(2024, 7, 3), 3, hol) == [date(2024, 7, 3), date(2024, 7, 5), date(2024, 7, 8)]
    assert previous_trading_day(date(2024, 7, 8)) == date(2024, 7, 5)
    assert previous_trading_day(date(2024, 7, 5), hol) == date(2024, 7, 3)


def test_exchange_calendar_holiday_half_day_and_override() -> None:
    from sor_pipeline.config.calendar import is_early_close, session_bounds
    from sor_pipeline.simulation.market import session_bounds_ns

    thanksgiving, friday = date(2024, 11, 28), date(2024, 11, 29)
    # backfill and the schedule walk trading_days / is_trading_day: the holiday is skipped without any override
    assert trading_days(date(2024, 11, 27), date(2024, 12, 2)) == [date(2024, 11, 27), friday, date(2024, 12, 2)]
    assert not is_trading_day(thanksgiving) and is_trading_day(friday)
    assert not is_trading_day(date(2025, 1, 9))  # national day of mourning (unscheduled closure, in XNYS)
    # the half-day closes at 13:00 New York (18:00 UTC); a regular day at 16:00 (21:00 UTC in winter)
    assert is_early_close(friday) and not is_early_close(date(2024, 12, 2))
    from sor_pipeline.config.calendar import SESSION_LEN_S, early_close_lengths_s

    assert early_close_lengths_s()[friday] == 3.5 * 3600 and SESSION_LEN_S == 6.5 * 3600
    assert date(2024, 7, 3) in early_close_lengths_s() and date(2024, 12, 24) in early_close_lengths_s()
    o, c = session_bounds(friday, "America/New_York")
    assert (o.isoformat(), c.isoformat()) == ("2024-11-29T14:30:00+00:00", "2024-11-29T18:00:00+00:00")
    assert session_bounds(date(2024, 12, 2), "America/New_York")[1].isoformat() == "2024-12-02T21:00:00+00:00"
    # the simulator's session (no event after the early close) and an explicit override
    assert session_bounds_ns(friday)[1] == int(c.timestamp()) * 1_000_000_000
    assert session_bounds(friday, "America/New_York", "09:30", "16:00")[1].hour == 21
    # the holiday override still removes a session
    assert trading_days(date(2024, 12, 2), date(2024, 12, 4), [date(2024, 12, 3)]) == [date(2024, 12, 2),
                                                                                        date(2024, 12, 4)]
    assert next_trading_days(date(2024, 11, 28), 2) == [friday, date(2024, 12, 2)]


def test_other_calendar_and_unknown_code() -> None:
    from sor_pipeline.config.calendar import session_bounds

    assert not is_trading_day(date(2024, 12, 26), calendar="XLON") and is_trading_day(date(2024, 12, 26))
    assert session_bounds(date(2024, 12, 2), "Europe/London", calendar="XLON")[0].hour == 8
    with pytest.raises(ValueError, match="unknown exchange calendar 'XXXX'"):
        trading_days(date(2024, 1, 1), date(2024, 1, 5), calendar="XXXX")


@pytest.mark.slow
def test_simulated_half_day_has_no_event_after_the_early_close() -> None:
    import polars as pl

    from sor_pipeline.config.calendar import session_bounds
    from sor_pipeline.simulation import SimConfig, simulate_day

    friday = date(2024, 11, 29)
    close = session_bounds(friday, "America/New_York")[1]
    day = simulate_day(SimConfig(), friday, 0)
    for table, frame in day.tables.items():
        for col, dtype in frame.schema.items():
            if isinstance(dtype, pl.Datetime) and frame.height and frame[col].max() is not None:
                assert frame[col].max() <= close, (table, col)


def test_time_of_day_runs_over_the_half_days_session_in_batch_and_online() -> None:
    """Noon New York is 2.5 h into the session: 2.5 / 6.5 of a regular day, 2.5 / 3.5 of the half-day
    after Thanksgiving (13:00 close), the same in the batch features and the live router's."""
    import polars as pl

    from sor_pipeline.features.market_state import time_of_day
    from sor_pipeline.features.online import TimeOfDay

    noon = pl.Series("ts", [datetime(2024, 11, 27, 17, 0), datetime(2024, 11, 29, 17, 0)]).dt.replace_time_zone("UTC")
    batch = pl.DataFrame({"ts": noon.cast(pl.Datetime("ns", "UTC"))}).select(time_of_day("ts"))["ts"].to_list()
    assert batch == pytest.approx([2.5 / 6.5, 2.5 / 3.5])
    tod = TimeOfDay()
    online = [tod(int(t)) for t in noon.cast(pl.Datetime("ns", "UTC")).cast(pl.Int64).to_list()]
    assert online == pytest.approx(batch)
