"""An export line is exactly what `json.dumps(..., ensure_ascii=False, separators=(",", ":"))`
writes, whatever the strings hold: the sharing format did not change when orjson came in."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.lifecycle.transfer import export_line

# What an envelope holds: strings (any Unicode but lone surrogates, which no UTF-8 file can
# hold), integers within 64 bits, booleans, nulls, nested objects and lists.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
SCALAR = st.one_of(TEXT, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.none())
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(TEXT, inner, max_size=5)),
    max_leaves=30,
)


@given(st.dictionaries(TEXT, JSON, max_size=12))
def test_the_line_is_what_json_dumps_writes(data: dict[str, Any]) -> None:
    expected = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert export_line(data) == expected


def test_characters_json_escapes_or_keeps() -> None:
    for text in ["\u2028", "\u2029", "\x00", "\x1f", "\x7f", "é", "😀", "\\", '"', "/", "\t"]:
        data = {"a": text}
        assert (
            export_line(data) == json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
        )
