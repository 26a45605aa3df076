"""The bounds of every value the public contract accepts (API, events, files).

A value outside these bounds is refused (HTTP 422) before anything is recorded, so no accepted
value can break a read model, a payout file or a restart: date arithmetic on any accepted date
(day 60, exit + 6 months, the month after) stays far inside Python's calendar, and money stays
far inside `Decimal`'s 28 digits whatever a run multiplies or sums.

Rules that depend on other facts (starts_on after decided_on, at most a year ahead of today …)
belong to the domain; these are the absolute limits beneath them.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

# Customer choice under LOV (lag 2008:962 om valfrihetssystem) exists from 2009-01-01: no
# decision, assignment, rate or provider fact of an insats can be older.
EARLIEST_DATE = date(2009, 1, 1)
# Far enough ahead for every plan and look-ahead, far enough from date.max for any arithmetic.
LATEST_DATE = date(2099, 12, 31)
EARLIEST_MONTH = "2009-01"
LATEST_MONTH = "2099-12"
EARLIEST_TIMESTAMP = datetime(2009, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)

# No rate, bonus or supplementary cheque of a municipal insats comes near a million kronor.
MAX_AMOUNT = Decimal("1000000.00")
ORE = Decimal("0.01")

# Positions, offsets and cursors: what a BIGINT (PostgreSQL) or INTEGER (SQLite) column holds.
MAX_INT64 = 2**63 - 1

# Free text in events: names, reasons, purposes.
MAX_NAME = 200
MAX_REASON = 500
# Evidence documents on one follow-up.
MAX_EVIDENCE = 20


class OutOfBounds(ValueError):
    """A value outside what the contract accepts; the message names the bound."""


def check_date(day: date, what: str = "a date") -> date:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise OutOfBounds(
            f"{what} must lie between {EARLIEST_DATE.isoformat()} (customer choice under LOV "
            f"began) and {LATEST_DATE.isoformat()}, got {day.isoformat()}"
        )
    return day


def check_timestamp(moment: datetime, what: str = "a timestamp") -> datetime:
    if moment.tzinfo is None:
        raise OutOfBounds(f"{what} needs a time zone, e.g. 2026-05-01T12:00:00Z")
    if not EARLIEST_TIMESTAMP <= moment <= LATEST_TIMESTAMP:
        raise OutOfBounds(
            f"{what} must lie between {EARLIEST_TIMESTAMP:%Y-%m-%d} and {LATEST_TIMESTAMP:%Y-%m-%d}"
        )
    return moment


def parse_amount(value: Any, what: str = "an amount") -> Decimal:
    """A finite amount in SEK with at most two decimals, 0 ≤ |amount| ≤ MAX_AMOUNT.

    Checked on the text before any arithmetic: `Decimal("1e999999999")` is a valid Decimal
    that no quantize can hold."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise OutOfBounds(f"{what} must be a string such as \"5000.00\"")
    text = str(value).strip()
    if len(text) > 20:
        raise OutOfBounds(f"{what} is too long; at most {MAX_AMOUNT:.2f} SEK")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise OutOfBounds(f"{what} must be an amount in SEK such as \"5000.00\"") from None
    if not amount.is_finite():
        raise OutOfBounds(f"{what} must be a finite amount")
    # adjusted() needs no arithmetic context: a huge exponent is refused before any is used.
    if amount.adjusted() > MAX_AMOUNT.adjusted() or abs(amount) > MAX_AMOUNT:
        raise OutOfBounds(f"{what} must be at most {MAX_AMOUNT:.2f} SEK")
    if amount != amount.quantize(ORE):
        raise OutOfBounds(f"{what} must have at most two decimals")
    return amount.quantize(ORE)


# --- date arithmetic on stored facts ----------------------------------------------------------
# Stores written before these bounds existed may hold dates up to 9999-12-31. Every read model
# and view computes its derived dates (day 60, exit + 6 months …) with these, which hold at the
# calendar's ends instead of failing, so no stored event can stop a read model or a view.


def add_days(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def add_months(day: date, months: int) -> date:
    """Calendar months; the day is clipped to the end of a shorter month (as dateutil's
    `relativedelta(months=...)`, written out: read models call it for every journey)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if not MINYEAR <= year <= MAXYEAR:
        return date.max if months > 0 else date.min
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def _bounded_date(day: date) -> date:
    return check_date(day)


def _bounded_timestamp(moment: datetime) -> datetime:
    return check_timestamp(moment)


def _amount_text(value: Any) -> str:
    # Money travels as strings; a JSON number is accepted, a float is not (it is not exact).
    if isinstance(value, float):
        raise OutOfBounds("amounts are strings with two decimals, e.g. \"5000.00\"")
    return f"{parse_amount(value):.2f}"


# Pydantic types for the API's bodies and queries.
Day = Annotated[date, AfterValidator(_bounded_date)]
Timestamp = Annotated[datetime, AfterValidator(_bounded_timestamp)]
AmountText = Annotated[str, BeforeValidator(_amount_text)]
Position = Annotated[int, Field(ge=0, le=MAX_INT64)]
