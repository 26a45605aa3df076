"""Load and check the checked-in JSON Schemas of the public event contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from pydantic_core import CoreSchema, SchemaValidator
from pydantic_core import core_schema as cs

from contracts.events import CONTRACT_VERSION, PAYLOAD_MODELS, envelope_schema

SCHEMA_DIR = Path(__file__).parent / "events" / f"v{CONTRACT_VERSION}"


def schema_path(event_type: str) -> Path:
    return SCHEMA_DIR / f"{event_type}.json"


def render_schema(event_type: str) -> str:
    return json.dumps(envelope_schema(event_type), indent=2, ensure_ascii=False) + "\n"


def write_all() -> list[Path]:
    """(Re)generate every event schema file from the models in contracts.events."""
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in PAYLOAD_MODELS:
        path = schema_path(event_type)
        path.write_text(render_schema(event_type), encoding="utf-8")
        written.append(path)
    return written


@cache
def _schema(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_path(event_type).read_text(encoding="utf-8"))
    return loaded


@cache
def validator(event_type: str) -> Draft202012Validator:
    return Draft202012Validator(
        _schema(event_type), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def validation_errors(envelope: dict[str, Any]) -> list[str]:
    """Errors of one event envelope (as JSON data) against its type's schema; [] when valid."""
    event_type = envelope.get("type") if isinstance(envelope, dict) else None
    if not isinstance(event_type, str) or event_type not in PAYLOAD_MODELS:
        return [f"unknown event type {event_type!r}"]
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator(str(event_type)).iter_errors(envelope)
    ]


def surely_valid(envelope: Any) -> bool:
    """True only when `envelope` (JSON data, as `json.loads` gives it) matches its type's schema
    — some 25 times faster than `validation_errors` (4 µs an event rather than 110). False means
    "not sure": ask `validation_errors`, which has the last word (and the message).

    It runs a pydantic-core validator compiled from the same schema file, for the keywords the
    event schemas use, each checked at least as strictly as the JSON Schema does:

    - strict types on every node, no coercion (pydantic-core's config does not reach the fields
      of a typed dict, so each node sets `strict` and `regex_engine` itself); an integral float
      such as 1.0, which JSON Schema counts as an integer, is left to `validation_errors`;
    - string constants and enums as literals, an integer constant as a one-value range (a
      literal 1 would take True);
    - `pattern` with Python's `re.search`, as jsonschema (Rust's regex knows newer Unicode
      digits than Python 3.11's `\\d`);
    - `format` with the very format checker of `validator()` (and no check where it has none);
    - additional properties refused where the schema refuses them.

    A schema using any other keyword gets no fast validator (always False). The agreement is
    tested on mutations of envelopes of every type (tests/lifecycle/unit/test_fast_validation.py).
    """
    if not isinstance(envelope, dict):
        return False
    event_type = envelope.get("type")
    if type(event_type) is not str or event_type not in PAYLOAD_MODELS:
        return False
    fast = fast_validator(event_type)
    return fast is not None and fast.isinstance_python(envelope)


@cache
def fast_validator(event_type: str) -> SchemaValidator | None:
    """The compiled fast check of one event type (see `surely_valid`); None for an unknown
    type or a schema using a keyword the compiler does not know."""
    if event_type not in PAYLOAD_MODELS:
        return None
    root = _schema(event_type)
    try:
        compiled = _compile(root, root, depth=0)
    except _Unsupported:
        return None
    return SchemaValidator(compiled)


class _Unsupported(Exception):
    """A schema construct the fast compiler does not translate."""


# Keywords that annotate and never make an instance invalid.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated"}
)


def _compile(schema: Any, root: dict[str, Any], depth: int) -> CoreSchema:
    if depth > 32 or not isinstance(schema, dict):
        raise _Unsupported(schema)
    keys = set(schema) - _ANNOTATIONS
    if schema is root:
        keys.discard("$defs")
    if not keys:
        return cs.any_schema()
    if "$ref" in keys:
        ref = schema["$ref"]
        defs = root.get("$defs", {})
        name = ref.removeprefix("#/$defs/") if isinstance(ref, str) else None
        if keys != {"$ref"} or name is None or name == ref or "/" in name or name not in defs:
            raise _Unsupported(ref)
        return _compile(defs[name], root, depth + 1)
    if "anyOf" in keys:
        if keys != {"anyOf"} or not schema["anyOf"]:
            raise _Unsupported(schema)
        return cs.union_schema([_compile(s, root, depth + 1) for s in schema["anyOf"]])
    if "const" in keys or "enum" in keys:
        if keys - {"const", "enum", "type"}:
            raise _Unsupported(schema)
        values = [schema["const"]] if "const" in keys else schema["enum"]
        if "const" in keys and "enum" in keys:
            raise _Unsupported(schema)
        return _choice(values, schema.get("type"))
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, keys, root, depth)
    if kind == "string":
        return _string(schema, keys)
    if kind == "integer":
        return _integer(schema, keys)
    if kind == "array":
        if keys - {"type", "items", "minItems", "maxItems"}:
            raise _Unsupported(schema)
        items = _compile(schema["items"], root, depth + 1) if "items" in keys else None
        return cs.list_schema(
            items,
            min_length=_count(schema, "minItems"),
            max_length=_count(schema, "maxItems"),
            strict=True,
        )
    if kind == "boolean" and keys == {"type"}:
        return cs.bool_schema(strict=True)
    if kind == "null" and keys == {"type"}:
        return cs.none_schema()
    raise _Unsupported(schema)


def _choice(values: list[Any], kind: Any) -> CoreSchema:
    # Strings only: pydantic's literal matching of numbers differs from JSON Schema's (True
    # equals 1 there), so an integer constant becomes a strict integer range of one.
    if values and all(isinstance(v, str) for v in values) and kind in (None, "string"):
        return cs.literal_schema(list(values))
    if len(values) == 1 and type(values[0]) is int and kind in (None, "integer"):
        return cs.int_schema(ge=values[0], le=values[0], strict=True)
    raise _Unsupported(values)


def _object(schema: dict[str, Any], keys: set[str], root: dict[str, Any], depth: int) -> CoreSchema:
    if keys - {"type", "properties", "required", "additionalProperties"}:
        raise _Unsupported(schema)
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    if not required <= set(properties):
        raise _Unsupported(schema)
    extra = schema.get("additionalProperties", True)
    if type(extra) is not bool:  # a schema for the additional properties: not translated
        raise _Unsupported(schema)
    fields = {
        name: cs.typed_dict_field(_compile(sub, root, depth + 1), required=name in required)
        for name, sub in properties.items()
    }
    return cs.typed_dict_schema(fields, extra_behavior="allow" if extra else "forbid", strict=True)


def _string(schema: dict[str, Any], keys: set[str]) -> CoreSchema:
    if keys - {"type", "minLength", "maxLength", "pattern", "format"}:
        raise _Unsupported(schema)
    pattern = schema.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise _Unsupported(schema)
    # Lengths count code points on both sides; with the python-re engine `pattern` is
    # `re.search`, as in jsonschema.
    compiled = cs.str_schema(
        min_length=_count(schema, "minLength"),
        max_length=_count(schema, "maxLength"),
        pattern=pattern,
        regex_engine="python-re",
        strict=True,
    )
    fmt = schema.get("format")
    if fmt is None:
        return compiled
    checker = Draft202012Validator.FORMAT_CHECKER
    if not isinstance(fmt, str):
        raise _Unsupported(schema)
    if fmt not in checker.checkers:
        return compiled  # jsonschema does not check it either
    return cs.no_info_after_validator_function(_format_check(fmt), compiled)


@cache
def _format_check(fmt: str) -> Callable[[str], str]:
    checker = Draft202012Validator.FORMAT_CHECKER

    @lru_cache(maxsize=8192)
    def conforms(value: str) -> bool:
        return checker.conforms(value, fmt)

    def check(value: str) -> str:
        if not conforms(value):
            raise ValueError(f"not a {fmt}")
        return value

    return check


def _integer(schema: dict[str, Any], keys: set[str]) -> CoreSchema:
    if keys - {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        raise _Unsupported(schema)
    bounds = {}
    for key, arg in (
        ("minimum", "ge"),
        ("maximum", "le"),
        ("exclusiveMinimum", "gt"),
        ("exclusiveMaximum", "lt"),
    ):
        if key in schema:
            if type(schema[key]) is not int:
                raise _Unsupported(schema)
            bounds[arg] = schema[key]
    return cs.int_schema(**bounds, strict=True)


def _count(schema: dict[str, Any], key: str) -> int | None:
    value = schema.get(key)
    if value is not None and (type(value) is not int or value < 0):
        raise _Unsupported(schema)
    return value


if __name__ == "__main__":
    for p in write_all():
        print(p)
