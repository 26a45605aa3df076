"""Effective-dated rate tables (SPEC §4.1): one stream, one RatesSet per change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate

from contracts.bounds import OutOfBounds, add_days, parse_amount
from contracts.events import INSATS_TYPES
from services.lifecycle.domain.base import CommandContext, Fact, stable_id
from services.platform.refusal import Invalid

RATES_STREAM_ID = stable_id("rates")
# A board decides next year's rates, not those of a decade ahead.
MAX_YEARS_AHEAD = 2


def parse_money(value: Any, field: str, *, positive: bool = True) -> Decimal:
    """An amount within the contract's bounds (`contracts.bounds.parse_amount`)."""
    try:
        amount = parse_amount(value, field)
    except OutOfBounds as refused:
        raise Invalid("invalid_amount", str(refused), field) from None
    if positive and amount <= 0:
        raise Invalid("invalid_amount", f"{field} must be positive", field)
    return amount


@dataclass(frozen=True)
class RateTable:
    effective_from: date
    monthly: dict[str, Decimal | None]
    bonus: dict[str, Decimal | None]
    voucher_min: Decimal
    voucher_max: Decimal
    min_days_before_payment: int
    version: int

    def view(self) -> dict[str, Any]:
        def money(d: dict[str, Decimal | None]) -> dict[str, str | None]:
            return {k: (f"{v:.2f}" if v is not None else None) for k, v in d.items()}

        return {
            "effective_from": self.effective_from.isoformat(),
            "monthly": money(self.monthly),
            "bonus": money(self.bonus),
            "voucher_min": f"{self.voucher_min:.2f}",
            "voucher_max": f"{self.voucher_max:.2f}",
            "min_days_before_payment": self.min_days_before_payment,
            "version": self.version,
        }


class Rates(Aggregate):
    class Opened(Aggregate.Created):
        """Starts the rates stream (internal: not part of the public contract)."""

    class RatesSet(Fact):
        effective_from: date
        monthly: dict[str, Decimal | None]
        bonus: dict[str, Decimal | None]
        voucher_min: Decimal
        voucher_max: Decimal
        min_days_before_payment: int

    def __init__(self) -> None:
        self.tables: list[RateTable] = []

    def when(self, event: Fact) -> None:
        match event:
            case Rates.RatesSet():
                self.tables.append(
                    RateTable(
                        effective_from=event.effective_from,
                        monthly=dict(event.monthly),
                        bonus=dict(event.bonus),
                        voucher_min=event.voucher_min,
                        voucher_max=event.voucher_max,
                        min_days_before_payment=event.min_days_before_payment,
                        version=event.originator_version,
                    )
                )

    @classmethod
    def open(cls) -> Rates:
        return cls._create(cls.Opened, id=RATES_STREAM_ID)

    def set_rates(
        self,
        ctx: CommandContext,
        *,
        effective_from: date,
        monthly: dict[str, Any],
        bonus: dict[str, Any],
        voucher_min: Any,
        voucher_max: Any,
        min_days_before_payment: int,
    ) -> None:
        limit = add_days(ctx.today, 366 * MAX_YEARS_AHEAD)
        if effective_from > limit:
            raise Invalid(
                "date_too_far_ahead",
                f"effective_from may be at most {MAX_YEARS_AHEAD} years after today (until "
                f"{limit.isoformat()})",
                "effective_from",
            )
        for name, table in (("monthly", monthly), ("bonus", bonus)):
            unknown = set(table) - set(INSATS_TYPES)
            if unknown:
                raise Invalid(
                    "invalid_insats", f"unknown insats type {sorted(unknown)[0]!r}", name
                )
        m = {
            t: (parse_money(monthly[t], f"monthly.{t}") if monthly.get(t) is not None else None)
            for t in INSATS_TYPES
        }
        b = {
            t: (parse_money(bonus[t], f"bonus.{t}") if bonus.get(t) is not None else None)
            for t in INSATS_TYPES
        }
        vmin = parse_money(voucher_min, "voucher_min")
        vmax = parse_money(voucher_max, "voucher_max")
        if vmin > vmax:
            raise Invalid(
                "invalid_voucher_range", "voucher_min must not exceed voucher_max", "voucher_min"
            )
        if not isinstance(min_days_before_payment, int) or not 0 <= min_days_before_payment <= 366:
            raise Invalid(
                "invalid_days",
                "min_days_before_payment must be a whole number of days 0–366",
                "min_days_before_payment",
            )
        self.trigger_event(
            self.RatesSet,
            effective_from=effective_from,
            monthly=m,
            bonus=b,
            voucher_min=vmin,
            voucher_max=vmax,
            min_days_before_payment=min_days_before_payment,
            **ctx.meta(effective_from),
        )

    def in_force(self, day: date) -> RateTable | None:
        """The table in force on `day`; of two with the same date the later-recorded wins."""
        best: RateTable | None = None
        for table in self.tables:
            if table.effective_from <= day and (
                best is None or table.effective_from >= best.effective_from
            ):
                best = table
        return best
