"""Authorised providers (auktoriserade anordnare) as a stream each."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.se import orgnr

from contracts.events import INSATS_TYPES
from services.lifecycle.domain.base import CommandContext, Fact, stable_id
from services.lifecycle.domain.errors import Conflict, DomainError

# 7 or 8 digits, written NNN-NNNN or NNNN-NNNN (Bankgirot's form); the dash may be left out.
_BANKGIRO = re.compile(r"(\d{3,4})-?(\d{4})")


def normalise_org_number(raw: str, field: str = "provider_id") -> str:
    """Organisation number as 10 digits, checked by python-stdnum."""
    try:
        return str(orgnr.validate(raw or ""))
    except ValidationError:
        raise DomainError(
            "invalid_organisation_number",
            f"{raw!r} is not a valid Swedish organisation number",
            field,
        ) from None


def normalise_bankgiro(raw: str) -> str:
    """A bankgiro number in Bankgirot's dashed form; the last digit is the Luhn (mod 10) check
    digit over all 7 or 8 digits."""
    match = _BANKGIRO.fullmatch(raw.strip())
    if match is None:
        raise DomainError(
            "invalid_bankgiro",
            f"{raw!r} is not a bankgiro number: 7 or 8 digits, NNN-NNNN or NNNN-NNNN",
            "bankgiro",
        )
    digits = match[1] + match[2]
    if not luhn.is_valid(digits):
        raise DomainError(
            "invalid_bankgiro", f"{raw!r} has a wrong check digit (bankgiro, mod 10)", "bankgiro"
        )
    return f"{digits[:-4]}-{digits[-4:]}"


def normalise_iban(raw: str) -> str:
    """An IBAN in its compact form (no spaces, upper case), checked by python-stdnum (mod 97 and
    the country's format). Only Swedish accounts: the municipality pays domestically (bankgiro
    or Swedish account); a foreign payment would need a BIC and another payment channel."""
    try:
        number = str(stdnum_iban.validate(raw))
    except ValidationError:
        raise DomainError(
            "invalid_iban", f"{raw!r} is not a valid IBAN (format or check digits)", "iban"
        ) from None
    if not number.startswith("SE"):
        raise DomainError("invalid_iban", "a Swedish IBAN (SE…) is required", "iban")
    return number


def provider_stream_id(provider_id: str) -> UUID:
    return stable_id("provider", provider_id)


class Provider(Aggregate):
    class ProviderAuthorised(Fact, Aggregate.Created):
        provider_id: str
        name: str
        insats_types: list[str]
        authorised_from: date
        bankgiro: str | None
        iban: str | None

        def apply(self, provider: Provider) -> None:
            provider.provider_id = self.provider_id
            provider.name = self.name
            provider.insats_types = list(self.insats_types)
            provider.authorised_from = self.authorised_from
            provider.bankgiro = self.bankgiro
            provider.iban = self.iban

    class ProviderDeauthorised(Fact):
        provider_id: str
        effective_on: date
        reason: str

        def apply(self, provider: Provider) -> None:
            provider.deauthorised_on = self.effective_on
            provider.deauthorisation_reason = self.reason

    def __init__(self) -> None:
        self.provider_id = ""
        self.name = ""
        self.insats_types: list[str] = []
        self.authorised_from = date.min
        self.bankgiro: str | None = None
        self.iban: str | None = None
        self.deauthorised_on: date | None = None
        self.deauthorisation_reason: str | None = None

    @classmethod
    def authorise(
        cls,
        ctx: CommandContext,
        *,
        provider_id: str,
        name: str,
        insats_types: list[str],
        authorised_from: date,
        bankgiro: str | None,
        iban: str | None,
    ) -> Provider:
        provider_id = normalise_org_number(provider_id)
        if not name.strip():
            raise DomainError("invalid_name", "name must not be empty", "name")
        if not insats_types:
            raise DomainError("invalid_insats_types", "at least one insats type", "insats_types")
        for t in insats_types:
            if t not in INSATS_TYPES:
                raise DomainError("invalid_insats", f"unknown insats type {t!r}", "insats_types")
        bankgiro = normalise_bankgiro(bankgiro) if bankgiro else None
        iban = normalise_iban(iban) if iban else None
        if not bankgiro and not iban:
            raise DomainError(
                "payment_account_required", "a bankgiro or an IBAN is required", "bankgiro"
            )
        return cls._create(
            cls.ProviderAuthorised,
            id=provider_stream_id(provider_id),
            provider_id=provider_id,
            name=name.strip(),
            insats_types=sorted(set(insats_types), key=INSATS_TYPES.index),
            authorised_from=authorised_from,
            bankgiro=bankgiro,
            iban=iban,
            **ctx.meta(authorised_from),
        )

    def same_authorisation(self, **fields: Any) -> bool:
        return (
            self.name == fields["name"].strip()
            and self.insats_types == sorted(set(fields["insats_types"]), key=INSATS_TYPES.index)
            and self.authorised_from == fields["authorised_from"]
            and self.bankgiro
            == (normalise_bankgiro(fields["bankgiro"]) if fields["bankgiro"] else None)
            and self.iban == (normalise_iban(fields["iban"]) if fields["iban"] else None)
        )

    def deauthorise(self, ctx: CommandContext, *, effective_on: date, reason: str) -> None:
        if self.deauthorised_on is not None:
            raise Conflict(
                "already_deauthorised",
                f"provider {self.provider_id} is de-authorised from {self.deauthorised_on}",
                "effective_on",
            )
        if effective_on <= self.authorised_from:
            raise DomainError(
                "invalid_date",
                "effective_on must be after authorised_from",
                "effective_on",
            )
        if not reason.strip():
            raise DomainError("reason_required", "a reason is required", "reason")
        self.trigger_event(
            self.ProviderDeauthorised,
            provider_id=self.provider_id,
            effective_on=effective_on,
            reason=reason.strip(),
            **ctx.meta(effective_on),
        )

    def is_authorised_for(self, insats: str, day: date) -> bool:
        return (
            insats in self.insats_types
            and self.authorised_from <= day
            and (self.deauthorised_on is None or day < self.deauthorised_on)
        )

    def view(self) -> dict[str, Any]:
        return {
            "provider_id": self.provider_id,
            "name": self.name,
            "insats_types": list(self.insats_types),
            "authorised_from": self.authorised_from.isoformat(),
            "deauthorised_on": self.deauthorised_on.isoformat() if self.deauthorised_on else None,
            "deauthorisation_reason": self.deauthorisation_reason,
            "bankgiro": self.bankgiro,
            "iban": self.iban,
            "version": self.version,
        }
