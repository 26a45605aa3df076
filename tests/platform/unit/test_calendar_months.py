"""`add_months` is calendar months with the day clipped to a shorter month's end, exactly as
dateutil's relativedelta counts them, and it stays inside Python's calendar at its ends."""

from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from contracts.bounds import add_months


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)), st.integers(-200, 200))
def test_it_counts_as_relativedelta_does(day: date, months: int) -> None:
    try:
        expected = day + relativedelta(months=months)
    except (OverflowError, ValueError):
        expected = date.max if months > 0 else date.min
    assert add_months(day, months) == expected


def test_the_end_of_a_month_is_clipped() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 8, 31), -6) == date(2026, 2, 28)
    assert add_months(date(2026, 6, 30), 6) == date(2026, 12, 30)
    assert add_months(date(9999, 12, 1), 1) == date.max
    assert add_months(date(1, 1, 1), -1) == date.min
