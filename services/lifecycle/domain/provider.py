"""Authorised providers (auktoriserade anordnare) as a stream each.

A provider's name and payment account are effective-dated: the authorisation states them from
`authorised_from`, and each `ProviderDetailsChanged` states them whole from its
`effective_from` until the next change (of two changes with the same `effective_from`, the later
recorded one holds). Payout runs pay to the details in force on the day they close.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date
from typing import Any
from uuid import UUID

from dateutil.relativedelta import relativedelta
from eventsourcing.domain import Aggregate
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.exceptions import ValidationError

from contracts import journey as model
from contracts.bounds import OutOfBounds, check_date
from contracts.events import INSATS_TYPES
from contracts.journey import ProviderDetails, ProviderFacts
from services.lifecycle.domain.base import CommandContext, Fact, stable_id
from services.platform.identifiers import normalise_org_number
from services.platform.refusal import Conflict, Invalid

# Provider facts (authorisation, details, de-authorisation) are announced at most a year ahead.
MAX_AHEAD = relativedelta(years=1)
DETAIL_FIELDS = ("name", "bankgiro", "iban")

# 7 or 8 digits, written NNN-NNNN or NNNN-NNNN (Bankgirot's form); the dash may be left out.
_BANKGIRO = re.compile(r"(\d{3,4})-?(\d{4})")


def normalise_bankgiro(raw: str) -> str:
    """A bankgiro number in Bankgirot's dashed form; the last digit is the Luhn (mod 10) check
    digit over all 7 or 8 digits."""
    match = _BANKGIRO.fullmatch(raw.strip())
    if match is None:
        raise Invalid(
            "invalid_bankgiro",
            f"{raw!r} is not a bankgiro number: 7 or 8 digits, NNN-NNNN or NNNN-NNNN",
            "bankgiro",
        )
    digits = match[1] + match[2]
    if not luhn.is_valid(digits):
        raise Invalid(
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
        raise Invalid(
            "invalid_iban", f"{raw!r} is not a valid IBAN (format or check digits)", "iban"
        ) from None
    if not number.startswith("SE"):
        raise Invalid("invalid_iban", "a Swedish IBAN (SE…) is required", "iban")
    return number


@functools.lru_cache(maxsize=1024)  # read by every journey command, for each of its providers
def provider_stream_id(provider_id: str) -> UUID:
    return stable_id("provider", provider_id)


def details_view(d: ProviderDetails) -> dict[str, Any]:
    return {
        "effective_from": d.effective_from.isoformat(),
        "name": d.name,
        "bankgiro": d.bankgiro,
        "iban": d.iban,
    }


def _values(d: ProviderDetails) -> tuple[str, str | None, str | None]:
    return (d.name, d.bankgiro, d.iban)


def checked_details(details: ProviderDetails) -> ProviderDetails:
    """The version with its name and accounts checked and normalised (the one rule for both the
    authorisation and every change)."""
    name = details.name.strip()
    if not name:
        raise Invalid("invalid_name", "name must not be empty", "name")
    bankgiro = normalise_bankgiro(details.bankgiro) if details.bankgiro else None
    iban = normalise_iban(details.iban) if details.iban else None
    if bankgiro is None and iban is None:
        raise Invalid(
            "payment_account_required", "a bankgiro or an IBAN is required", "bankgiro"
        )
    return details._replace(name=name, bankgiro=bankgiro, iban=iban)


def _inherit(
    later: ProviderDetails, before: ProviderDetails, new: ProviderDetails
) -> ProviderDetails:
    """`later` with every field it inherited from `before` (the same value) taken from `new`."""
    values: dict[str, Any] = {
        f: getattr(new, f) if getattr(later, f) == getattr(before, f) else getattr(later, f)
        for f in DETAIL_FIELDS
    }
    return ProviderDetails(later.effective_from, **values)


def _not_far_ahead(ctx: CommandContext, day: date, field: str) -> None:
    """A provider fact is recorded at most a year before it takes effect."""
    latest = ctx.today + MAX_AHEAD
    if day > latest:
        raise Invalid(
            "date_too_far_ahead",
            f"{field} may be at most a year ahead (until {latest.isoformat()})",
            field,
        )


class Provider(Aggregate):
    class ProviderAuthorised(Fact, Aggregate.Created):
        provider_id: str
        name: str
        insats_types: list[str]
        authorised_from: date
        bankgiro: str | None
        iban: str | None

    class ProviderDeauthorised(Fact):
        provider_id: str
        effective_on: date
        reason: str

    class ProviderDetailsChanged(Fact):
        """Name and payment account in force from `effective_from` (each field its whole value,
        not only what changed)."""

        provider_id: str
        effective_from: date
        name: str
        bankgiro: str | None
        iban: str | None
        reason: str

    def __init__(self) -> None:
        self.facts = ProviderFacts(provider_id="")
        self.authorisation = ProviderDetails(date.min, "", None, None)

    def when(self, event: Fact) -> None:
        """Every event, one fold: the public model's (`contracts.journey.apply_provider`)."""
        if isinstance(event, Provider.ProviderAuthorised):
            self.authorisation = ProviderDetails(
                event.authorised_from, event.name, event.bankgiro, event.iban
            )
        self.facts = model.apply_provider_payload(
            self.facts, type(event).__name__, event.payload()
        )

    @property
    def provider_id(self) -> str:
        return self.facts.provider_id

    @property
    def insats_types(self) -> list[str]:
        return list(self.facts.insats_types)

    @property
    def authorised_from(self) -> date:
        return self.facts.authorised_from or date.min

    @property
    def deauthorised_on(self) -> date | None:
        return self.facts.deauthorised_on

    @property
    def deauthorisation_reason(self) -> str | None:
        return self.facts.deauthorisation_reason

    @property
    def details(self) -> list[ProviderDetails]:
        """Every version of name and account, by effective_from; the first is the
        authorisation's unless a change with the same date replaced it."""
        return list(self.facts.details)

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
        _not_far_ahead(ctx, authorised_from, "authorised_from")
        details = checked_details(ProviderDetails(authorised_from, name, bankgiro, iban))
        if not insats_types:
            raise Invalid("invalid_insats_types", "at least one insats type", "insats_types")
        for t in insats_types:
            if t not in INSATS_TYPES:
                raise Invalid("invalid_insats", f"unknown insats type {t!r}", "insats_types")
        return cls._create(
            cls.ProviderAuthorised,
            id=provider_stream_id(provider_id),
            provider_id=provider_id,
            name=details.name,
            insats_types=sorted(set(insats_types), key=INSATS_TYPES.index),
            authorised_from=authorised_from,
            bankgiro=details.bankgiro,
            iban=details.iban,
            **ctx.meta(authorised_from),
        )

    def same_authorisation(self, **fields: Any) -> bool:
        """Whether a repeated authorisation states what was authorised (later changes of the
        details do not make the original request a conflict)."""
        asked = checked_details(
            ProviderDetails(
                fields["authorised_from"], fields["name"], fields["bankgiro"], fields["iban"]
            )
        )
        return (
            self.insats_types == sorted(set(fields["insats_types"]), key=INSATS_TYPES.index)
            and self.authorised_from == fields["authorised_from"]
            and asked == self.authorisation
        )

    def deauthorise(self, ctx: CommandContext, *, effective_on: date, reason: str) -> None:
        if self.deauthorised_on is not None:
            raise Conflict(
                "already_deauthorised",
                f"provider {self.provider_id} is de-authorised from {self.deauthorised_on}",
                "effective_on",
            )
        if effective_on <= self.authorised_from:
            raise Invalid(
                "invalid_date",
                "effective_on must be after authorised_from",
                "effective_on",
            )
        _not_far_ahead(ctx, effective_on, "effective_on")
        if not reason.strip():
            raise Invalid("reason_required", "a reason is required", "reason")
        self.trigger_event(
            self.ProviderDeauthorised,
            provider_id=self.provider_id,
            effective_on=effective_on,
            reason=reason.strip(),
            **ctx.meta(effective_on),
        )

    # --- name and payment account ------------------------------------------------------------

    def details_on(self, day: date) -> ProviderDetails:
        """The version in force on `day` (before the authorisation: the first one)."""
        current = self.facts.details_on(day)
        assert current is not None
        return current

    def change_details(
        self,
        ctx: CommandContext,
        *,
        effective_from: date,
        reason: str,
        changes: Mapping[str, str | None],
    ) -> None:
        """Change name and/or payment account from `effective_from`. `changes` holds only the
        fields to change (None removes an account); the others keep the value in force then.

        A field changed here also replaces that field in every later version that still had
        the value it replaces (it inherited it), so "the bankgiro changes from 1 March" holds
        after a name change already announced for 1 June too: those versions are stated again
        by further events, never rewritten."""
        self._check_details_date(ctx, effective_from)
        if not reason.strip():
            raise Invalid("reason_required", "a reason is required", "reason")
        unknown = set(changes) - set(DETAIL_FIELDS)
        if unknown:
            raise Invalid("invalid_input", f"unknown field {sorted(unknown)[0]!r}", None)
        before = self.details_on(effective_from)
        new = checked_details(
            ProviderDetails(
                effective_from,
                changes.get("name", before.name) or "",
                changes.get("bankgiro", before.bankgiro),
                changes.get("iban", before.iban),
            )
        )
        if _values(new) == _values(before):
            raise Invalid(
                "nothing_to_change",
                f"the details in force on {effective_from.isoformat()} are already these",
                None,
            )
        versions = [new]
        for later in self.details:
            if later.effective_from > effective_from:
                restated = checked_details(_inherit(later, before, new))
                if restated != later:
                    versions.append(restated)
        for version in versions:
            self.trigger_event(
                self.ProviderDetailsChanged,
                provider_id=self.provider_id,
                effective_from=version.effective_from,
                name=version.name,
                bankgiro=version.bankgiro,
                iban=version.iban,
                reason=reason.strip(),
                **ctx.meta(version.effective_from),
            )

    def _check_details_date(self, ctx: CommandContext, effective_from: date) -> None:
        try:
            check_date(effective_from, "effective_from")
        except OutOfBounds as exc:
            raise Invalid("invalid_date", str(exc), "effective_from") from None
        if effective_from < self.authorised_from:
            raise Invalid(
                "invalid_date",
                f"effective_from must not be before authorised_from "
                f"({self.authorised_from.isoformat()})",
                "effective_from",
            )
        _not_far_ahead(ctx, effective_from, "effective_from")

    # --- reads --------------------------------------------------------------------------------

    def is_authorised_for(self, insats: str, day: date) -> bool:
        return self.facts.authorised_on(day, insats)

    def view(self, today: date) -> dict[str, Any]:
        """The provider with the name and account in force `today`, and every dated version."""
        current = self.details_on(today)
        return {
            "provider_id": self.provider_id,
            "name": current.name,
            "insats_types": list(self.insats_types),
            "authorised_from": self.authorised_from.isoformat(),
            "deauthorised_on": self.deauthorised_on.isoformat() if self.deauthorised_on else None,
            "deauthorisation_reason": self.deauthorisation_reason,
            "bankgiro": current.bankgiro,
            "iban": current.iban,
            "details": [details_view(d) for d in self.details],
            "version": self.version,
        }
