"""A stored event's JSON is exactly what eventsourcing's JSONTranscoder writes, whatever the
state holds: the store's format did not change when orjson came in (services/lifecycle/
transcoder.py). What the fast way does not know is written by the library's encoder."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st

from services.lifecycle.application import DateAsISO
from services.lifecycle.transcoder import StoredJSONTranscoder


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY, FAST = registered(JSONTranscoder()), registered(StoredJSONTranscoder())

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
SCALAR = st.one_of(
    TEXT,
    st.integers(-(2**70), 2**70),  # beyond 64 bits too: orjson refuses, the library writes
    st.booleans(),
    st.none(),
    st.uuids(),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(TEXT, inner, max_size=4),
    ),
    max_leaves=20,
)


@given(st.dictionaries(TEXT, VALUE, max_size=14))
def test_an_event_state_is_written_as_the_library_writes_it(state: dict[str, Any]) -> None:
    written = FAST.encode(state)
    assert written == LIBRARY.encode(state)
    assert LIBRARY.decode(written) == LIBRARY.decode(LIBRARY.encode(state))


class Colour(enum.Enum):
    RED = "red"


class Name(str):
    pass


def test_what_the_fast_way_does_not_know_is_the_librarys_to_write() -> None:
    for unusual in (0.1, 1e16, Name("x"), {1: "a"}, 2**64):
        state = {"a": unusual, "at": date(2026, 1, 2)}
        assert FAST.encode(state) == LIBRARY.encode(state)
    # An enum has no transcoding: refused alike, not written as orjson would.
    for transcoder in (FAST, LIBRARY):
        try:
            transcoder.encode({"colour": Colour.RED})
        except TypeError:
            continue
        raise AssertionError(f"{type(transcoder).__name__} wrote an enum")


def test_characters_json_escapes_or_keeps() -> None:
    for text in ["\u2028", "\u2029", "\x00", "\x1f", "\x7f", "é", "😀", "\\", '"', "/", "\t"]:
        state = {"a": text, "id": UUID(int=7), "on": datetime(2026, 1, 2, tzinfo=UTC)}
        assert FAST.encode(state) == LIBRARY.encode(state)
    assert (
        FAST.encode({"amount": Decimal("1.50")})
        == b'{"amount":{"_type_":"decimal_str","_data_":"1.50"}}'
    )
