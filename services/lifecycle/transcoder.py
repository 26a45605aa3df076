"""The stored events' JSON, written at orjson's speed and byte for byte as eventsourcing's
`JSONTranscoder` writes it.

Every saved event is encoded once; the library's encoder calls back into Python for each UUID,
date and amount (`default`), which made encoding a third of an import's time. orjson writes the
same compact UTF-8 JSON (tests/lifecycle/unit/test_transcoder.py compares the two on generated
event states); UUIDs, which orjson would write as plain strings, are put in their transcoded
form first, and dates, times and amounts still go through the registered transcodings. A state
holding anything else (a float, an enum, a subclass, a non-string key, an integer beyond 64
bits) is written by the library's own encoder, as before. Decoding is the library's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoding

# Values orjson writes exactly as the library's encoder does.
_PLAIN = (str, int, bool, type(None))
# Exact types the store transcodes whose transcoded form is a string (written here directly).
_TRANSCODED = (UUID, date, datetime, Decimal)


class _Unusual(Exception):
    """A value the fast way does not write exactly as the library does."""


def _transcoded_form(transcoding: Transcoding) -> Callable[[Any], dict[str, Any]]:
    name, encode = transcoding.name, transcoding.encode
    return lambda value: {"_type_": name, "_data_": encode(value)}


class StoredJSONTranscoder(JSONTranscoder):
    _forms: dict[type, Callable[[Any], Any] | None] | None = None

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._prepared(obj))
        except (_Unusual, orjson.JSONEncodeError):
            return super().encode(obj)

    def _form_of(self) -> dict[type, Callable[[Any], Any] | None]:
        """How each known type is written: None for as it is, else a function giving the
        transcoded form (worked out once, after the application registered its transcodings)."""
        forms: dict[type, Callable[[Any], Any] | None] = dict.fromkeys(_PLAIN)
        for kind in _TRANSCODED:
            transcoding = self.types.get(kind)
            if transcoding is not None:
                forms[kind] = _transcoded_form(transcoding)
        forms[dict] = self._prepared_dict
        forms[list] = forms[tuple] = lambda v: [self._prepared(item) for item in v]
        self._forms = forms
        return forms

    def _prepared(self, value: Any) -> Any:
        forms = self._forms or self._form_of()
        try:
            form = forms[type(value)]
        except KeyError:
            raise _Unusual from None
        return value if form is None else form(value)

    def _prepared_dict(self, value: dict[Any, Any]) -> dict[Any, Any]:
        # An event's state is one flat dict: its values are taken here without a call each.
        # A key that is not a string makes orjson refuse, and the library's encoder decides.
        forms = self._forms or self._form_of()
        out = {}
        for key, item in value.items():
            try:
                form = forms[type(item)]
            except KeyError:
                raise _Unusual from None
            out[key] = item if form is None else form(item)
        return out
