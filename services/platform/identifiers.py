"""Identifiers as people write them, in the one form the service stores and compares.

An organisation number may be written 556123-4567, 5561234567 or with a 16 prefix; every
endpoint that takes one, as a body field or a filter, reads it here (python-stdnum: format and
Luhn check digit)."""

from __future__ import annotations

import functools

from stdnum.exceptions import ValidationError
from stdnum.se import orgnr

from services.platform.refusal import Invalid


@functools.lru_cache(maxsize=1024)  # every journey command reads its providers' numbers
def normalise_org_number(raw: str, field: str = "provider_id") -> str:
    """Organisation number as 10 digits, checked by python-stdnum."""
    try:
        return str(orgnr.validate(raw or ""))
    except ValidationError:
        raise Invalid(
            "invalid_organisation_number",
            f"{raw!r} is not a valid Swedish organisation number",
            field,
        ) from None


def optional_org_number(raw: str | None, field: str = "provider_id") -> str | None:
    """A filter's organisation number: None when not given."""
    return None if raw is None else normalise_org_number(raw, field)
