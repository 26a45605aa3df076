"""Swedish personal identity numbers (SPEC §3.1).

python-stdnum does the format clean-up and the Luhn check. It does not know samordningsnummer
(birth day + 60) and resolves the century of the 10-digit form against the machine's clock, so
those two steps are done here against the service's own date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.se import personnummer as stdnum_pnr

from services.platform.refusal import Invalid

_TWELVE = re.compile(r"^(\d{8})[-+]?(\d{4})$")
_TEN = re.compile(r"^(\d{6})([-+]?)(\d{4})$")


@dataclass(frozen=True)
class PersonId:
    number: str  # 12 digits, YYYYMMDDNNNC
    kind: str  # "personnummer" or "samordningsnummer"
    birth_date: date

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


def _invalid(message: str) -> Invalid:
    return Invalid("invalid_person_id", message, "person_id")


def parse_person_id(raw: str, today: date) -> PersonId:
    """Parse `YYYYMMDD-NNNC`, `YYYYMMDDNNNC`, `YYMMDD-NNNC` or `YYMMDD+NNNC` (100 or older)."""
    text = stdnum_pnr.compact(raw.strip()) if raw else ""
    text = text.replace(" ", "")
    if m := _TWELVE.match(text.replace("-", "").replace("+", "")):
        head, tail = m.group(1), m.group(2)
        year, month, day = int(head[:4]), int(head[4:6]), int(head[6:8])
    elif m := _TEN.match(text):
        short, sep, tail = m.group(1), m.group(2), m.group(3)
        yy, month, day = int(short[:2]), int(short[2:4]), int(short[4:6])
        century = today.year // 100
        if yy > today.year % 100:
            century -= 1
        if sep == "+":
            century -= 1
        year = century * 100 + yy
        head = f"{year:04d}{short[2:]}"
    else:
        raise _invalid("person_id must look like YYYYMMDD-NNNC, YYYYMMDDNNNC or YYMMDD-NNNC")
    kind = "personnummer"
    if day > 60:
        kind, day = "samordningsnummer", day - 60
    try:
        birth = date(year, month, day)
    except ValueError:
        raise _invalid("person_id does not contain a valid date of birth") from None
    if birth > today:
        raise _invalid("person_id has a date of birth in the future")
    try:
        luhn.validate(head[2:] + tail)
    except ValidationError:
        raise _invalid("person_id check digit is wrong") from None
    return PersonId(number=head + tail, kind=kind, birth_date=birth)


# A personnummer or samordningsnummer written inside other text: 10 or 12 digits with an
# optional separator (-, + or a space), not part of a longer number.
_IN_TEXT = re.compile(r"(?<![0-9])(?:[0-9]{8}|[0-9]{6})[-+ ]?[0-9]{4}(?![0-9])")


def contains_person_number(text: str, today: date) -> bool:
    """True when `text` holds a valid personnummer or samordningsnummer (date and check digit):
    free text that reaches events, the public feed or logs must not (SPEC §3.1)."""
    for candidate in _IN_TEXT.findall(text):
        try:
            parse_person_id(candidate.replace(" ", ""), today)
        except Invalid:
            continue
        return True
    return False
