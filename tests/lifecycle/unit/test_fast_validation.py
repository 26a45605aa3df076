"""The fast envelope check (`contracts.schemas.surely_valid`, used by `insats events import`) is
never more lenient than the checked-in JSON Schemas: whatever it accepts, the jsonschema
validator (`validation_errors`) accepts too. On valid envelopes of every event type and on
mutations of them (missing and extra properties, wrong types, impossible dates, bad constants,
enums, lengths and money strings) both give the same answer; where the fast check is only
cautious (an integral float where the schema wants an integer) the import asks the schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic_core import SchemaValidator

from contracts.events import PAYLOAD_MODELS
from contracts.schemas import _compile, fast_validator, schema_path, surely_valid, validation_errors
from services.lifecycle.transfer import ImportError_, read_lines
from tests.given import P1, P2, EventLog, exit_payload

Path_ = tuple[str | int, ...]


def _samples() -> list[dict[str, Any]]:
    """Valid envelopes of every event type, with optional fields both set and left out."""
    log = EventLog()
    log.provider_authorised(P1)
    log.provider_authorised(P2, bankgiro=None, iban="SE4550000000058398257466")
    log.rates_published()
    log.rates_published("2026-01-01", sai=None)
    journey = log.decision(insats="sai")
    log.provider_chosen(journey, P1, "2026-01-20")
    log.plan(
        journey,
        "2026-02-10",
        due_on="2026-03-21",
        planned_internship_start="2026-03-01",
        planned_internship_share_percent=50,
    )
    log.internship_started(journey, "2026-03-01")
    log.internship_ended(journey, "2026-03-31")
    log.provider_changed(journey, P2, "2026-04-01")
    log.voucher(journey, "2026-04-02", "7000.00")
    log.corrected(journey, "starts_on", "2026-01-20", "2026-01-21")
    log.corrected(journey, "provider_starts_on", "2026-04-01", "2026-04-02", provider_id=P2)
    log.exited(journey, "2026-05-10", employment_form="permanent", csn_eligible=False)
    log.corrected(
        journey, "exit", exit_payload("2026-05-10"), exit_payload("2026-05-08", "studies")
    )
    log.follow_up(journey, "2026-11-10", due_on="2026-11-08")
    log.bonus_reviewed(journey, "2026-11-12", "returned")
    other = log.decision(insats="grund", person_id_kind="samordningsnummer", transfer_from=journey)
    log.follow_up(other, "2026-06-01", "deviation", evidence=[])
    log.bonus_reviewed(other, "2026-06-02")
    log.exited(other, "2026-06-30", "moved")
    log.withdrawn(log.decision(), "2026-02-01")
    log.provider_details_changed(P1, "2026-03-01", "Anordnare Nacka AB", bankgiro="123-4566")
    log.provider_deauthorised(P2, "2026-12-31")
    out = [json.loads(json.dumps(e.to_dict())) for e in log.events]
    # as exported with --include-person-ids, and with the counsellor (added in v1.1)
    decision = copy.deepcopy(next(e for e in out if e["type"] == "DecisionRegistered"))
    decision["payload"].update(person_id="19900101-0017", counsellor="Karin K")
    out.append(decision)
    return out


SAMPLES = _samples()
EVENT_TYPES = sorted(PAYLOAD_MODELS)


def _schema(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_path(event_type).read_text(encoding="utf-8"))
    return loaded


def _resolve(root: dict[str, Any], schema: dict[str, Any], value: Any) -> dict[str, Any]:
    """The schema that applies to `value`: through $ref, and the anyOf branch it matches."""
    while True:
        if "$ref" in schema:
            schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in schema:
            schema = next(
                branch
                for branch in schema["anyOf"]
                if Draft202012Validator(
                    {**branch, "$defs": root.get("$defs", {})},
                    format_checker=Draft202012Validator.FORMAT_CHECKER,
                ).is_valid(value)
            )
        else:
            return schema


def _locations(
    root: dict[str, Any], schema: dict[str, Any], value: Any, path: Path_ = ()
) -> Iterator[tuple[Path_, dict[str, Any], Any]]:
    """Every place in a valid instance, with the (resolved) schema that applies there."""
    schema = _resolve(root, schema, value)
    yield path, schema, value
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _locations(
                root, schema.get("properties", {}).get(key, {}), sub, (*path, key)
            )
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _locations(root, schema.get("items", {}), sub, (*path, i))


def _with(envelope: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(envelope)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def _without(envelope: dict[str, Any], path: Path_) -> dict[str, Any]:
    out = copy.deepcopy(envelope)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return out


WRONG_TYPES: list[Any] = [None, True, False, 0, -7, 10**30, 2.5, "", "x", [], ["x"], {}, {"a": 1}]
BAD_DATES = [
    "2026-02-30",
    "2026-02-29",
    "2026-04-31",
    "2026-13-01",
    "2026-00-10",
    "2026-01-00",
    "0000-01-01",
    "2026-1-10",
    "20260110",
    "2026/01/10",
    "2026-01-10T00:00:00Z",
    " 2026-01-10",
    "2026-01-10\n",
    "\u0662\u0660\u0662\u0666-01-10",  # Arabic-Indic digits
    "",
]
BAD_MONEY = [
    "7000",
    "7000.0",
    "7000.000",
    ".00",
    "7 000.00",
    "7,000.00",
    "+7000.00",
    "--7.00",
    "7000.00 ",
    "\U00011f50.00",  # a Kawi digit: \d for Rust's regex, not for Python 3.11's re
    "",
]


def _mutants(envelope: dict[str, Any]) -> Iterator[tuple[str, str, bool, dict[str, Any]]]:
    """(kind, what, invalid by construction, mutant) for one valid envelope."""
    root = _schema(envelope["type"])
    for path, schema, value in _locations(root, root, envelope):
        where = "/".join(map(str, path)) or "<root>"
        if isinstance(value, dict) and schema.get("type") == "object":
            required = schema.get("required", [])
            for key in required:
                yield "missing", f"{where}: no {key}", True, _without(envelope, (*path, key))
            for key in set(value) - set(required):
                yield "optional", f"{where}: no {key}", False, _without(envelope, (*path, key))
            if schema.get("additionalProperties") is False:
                for key in ("unexpected", "Type", "payload "):
                    yield "extra", f"{where}: extra {key!r}", True, _with(envelope, (*path, key), 1)
        if not path:
            continue
        for wrong in WRONG_TYPES:
            if path == ("type",) and isinstance(wrong, list | dict):
                continue  # validation_errors itself raises TypeError (unhashable type)
            yield "wrong type", f"{where} = {wrong!r}", False, _with(envelope, path, wrong)
        if "const" in schema:
            const = schema["const"]
            others: list[Any] = ["x", "Journey", "ProviderChosen", "RatesSet", "journey"]
            others += ["provider", "rates", 2, 0, -1, True, "1", None]
            for other in others:
                if other != const or type(other) is not type(const):
                    yield "const", f"{where} = {other!r}", True, _with(envelope, path, other)
        if "enum" in schema:
            for other in ("", "x", str(value).upper(), f"{value} ", f" {value}"):
                yield "enum", f"{where} = {other!r}", True, _with(envelope, path, other)
        if schema.get("format") == "date":
            for bad in BAD_DATES:
                yield "date", f"{where} = {bad!r}", True, _with(envelope, path, bad)
        if "pattern" in schema:
            for bad in BAD_MONEY:
                yield "money", f"{where} = {bad!r}", True, _with(envelope, path, bad)
            for ok in ("0.00", "-12.50", "1234567890123.99", "\u0661\u0662.\u0660\u0660"):
                yield "money", f"{where} = {ok!r}", False, _with(envelope, path, ok)
        if "maxLength" in schema:
            n = schema["maxLength"]
            yield "length", f"{where}: {n + 1} long", True, _with(envelope, path, "é" * (n + 1))
            yield "length", f"{where}: {n} astral", False, _with(envelope, path, "😀" * n)
        if "minLength" in schema:
            n = schema["minLength"]
            yield "length", f"{where}: {n - 1} long", True, _with(envelope, path, "x" * (n - 1))
        if isinstance(value, list):
            yield "wrong type", f"{where}: a wrong item", False, _with(envelope, path, [*value, 1])


def test_every_event_type_has_a_fast_check_and_samples() -> None:
    assert {e["type"] for e in SAMPLES} == set(PAYLOAD_MODELS)
    for event_type in EVENT_TYPES:
        assert fast_validator(event_type) is not None, event_type


@pytest.mark.parametrize("envelope", SAMPLES, ids=[e["type"] for e in SAMPLES])
def test_valid_envelopes_pass_both(envelope: dict[str, Any]) -> None:
    assert validation_errors(envelope) == []
    assert surely_valid(envelope)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_mutations_get_the_same_answer_from_both(event_type: str) -> None:
    refused: set[str] = set()
    for envelope in (e for e in SAMPLES if e["type"] == event_type):
        for kind, what, invalid, mutant in _mutants(envelope):
            errors = validation_errors(mutant)
            assert errors or not invalid, f"{event_type}, {what}: meant to be invalid"
            assert surely_valid(mutant) == (not errors), f"{event_type}, {what}: {errors}"
            if errors:
                refused.add(kind)
    assert refused >= {"missing", "extra", "const", "wrong type"}, refused


def test_every_kind_of_invalid_mutation_is_tried() -> None:
    kinds = {kind for envelope in SAMPLES for kind, _, invalid, _ in _mutants(envelope) if invalid}
    assert kinds == {"missing", "extra", "const", "enum", "date", "money", "length"}


def test_unknown_types_and_non_objects_are_never_surely_valid() -> None:
    for value in ({}, {"type": "Nope"}, {"type": ["DecisionRegistered"]}, [], "x", None, 1):
        assert not surely_valid(value)


@pytest.mark.parametrize(
    "path",
    [("version",), ("position",), ("contract_version",), ("payload", "min_days_before_payment")],
)
def test_integral_floats_are_left_to_the_schema_and_still_import(path: Path_) -> None:
    rates = next(e for e in SAMPLES if e["type"] == "RatesSet")
    target: Any = rates
    for step in path:
        target = target[step]
    envelope = _with(rates, path, float(target))
    assert validation_errors(envelope) == []  # JSON Schema counts 1.0 as an integer
    assert not surely_valid(envelope)  # strict: not sure
    (line,) = read_lines([json.dumps(envelope)])
    assert line[path[0]] == envelope[path[0]]


def test_import_words_a_refusal_as_the_schema_does() -> None:
    rates = next(e for e in SAMPLES if e["type"] == "RatesSet")
    bad = _with(rates, ("payload", "effective_from"), "2026-02-30")
    with pytest.raises(ImportError_) as refused:
        list(read_lines(["", json.dumps(rates), json.dumps(bad)]))
    assert str(refused.value) == f"line 3: {validation_errors(bad)[0]}"
    assert "payload/effective_from" in str(refused.value)


def test_bounds_and_lengths_compile_as_the_schema_checks_them() -> None:
    """Keywords the event schemas do not use today, but the compiler translates."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 0, "maximum": 100},
            "m": {"type": "integer", "exclusiveMinimum": -1, "exclusiveMaximum": 10},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        },
        "additionalProperties": False,
    }
    fast = SchemaValidator(_compile(schema, schema, depth=0))
    slow = Draft202012Validator(schema)
    for n in [-1, 0, 9, 10, 100, 101, 10**20, True, 5.0, None]:
        for key in ("n", "m"):
            instance = {key: n}
            assert not fast.isinstance_python(instance) or slow.is_valid(instance), instance
            if type(n) is int:
                assert fast.isinstance_python(instance) == slow.is_valid(instance), instance
    for tags in ([], ["a"], ["a", "b"], ["a", "b", "c"], [1], "a"):
        assert fast.isinstance_python({"tags": tags}) == slow.is_valid({"tags": tags}), tags


# --- random mutations ---------------------------------------------------------------------------

_tricky_strings = st.sampled_from(
    [
        *BAD_DATES,
        *BAD_MONEY,
        *("2026-01-10", "2024-02-29", "7000.00", "-0.00", "grund", "journey", "rates"),
        *("provider", "RatesSet", "DecisionRegistered", "x" * 201, "😀" * 200, "a\u0000b"),
    ]
)
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | _tricky_strings
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), sample=st.sampled_from(SAMPLES))
def test_random_mutations_never_pass_the_fast_check_alone(
    data: Any, sample: dict[str, Any]
) -> None:
    root = _schema(sample["type"])
    places = [(p, v) for p, _, v in _locations(root, root, sample)]
    path, value = data.draw(st.sampled_from(places))
    how = data.draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "add" and isinstance(value, dict):
        mutant = _with(sample, (*path, data.draw(st.text(max_size=12))), data.draw(_json))
    elif how == "remove" and path:
        mutant = _without(sample, path)
    elif path:
        mutant = _with(sample, path, data.draw(_json))
    else:
        mutant = data.draw(_json)
    if not isinstance(mutant, dict) or isinstance(mutant.get("type"), list | dict):
        assert not surely_valid(mutant)  # (validation_errors raises TypeError on these)
        return
    errors = validation_errors(mutant)
    if surely_valid(mutant):
        assert errors == [], errors
    elif not errors:
        # cautious only where JSON Schema's integers meet integral floats
        assert _has_float(mutant), mutant
