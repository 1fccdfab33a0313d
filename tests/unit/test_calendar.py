from datetime import date

from sor_pipeline.config.calendar import is_trading_day, next_trading_days, previous_trading_day, trading_days


def test_weekdays_minus_holidays() -> None:
    hol = [date(2024, 7, 4)]
    days = trading_days(date(2024, 7, 1), date(2024, 7, 8), hol)
    assert days == [date(2024, 7, d) for d in (1, 2, 3, 5, 8)]
    assert not is_trading_day(date(2024, 7, 6))
    assert next_trading_days(date(2024, 7, 3), 3, hol) == [date(2024, 7, 3), date(2024, 7, 5), date(2024, 7, 8)]
    assert previous_trading_day(date(2024, 7, 8)) == date(2024, 7, 5)
    assert previous_trading_day(date(2024, 7, 5), hol) == date(2024, 7, 3)
