"""No personnummer in logs (SPEC §3.1)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from insats.logs import JsonLines, Redact, log_config, redact
from services.platform.settings import SettingError


def test_person_id_query_parameters_are_masked() -> None:
    line = '127.0.0.1 - "GET /v1/journeys?status=active&person_id=19900101-0017 HTTP/1.1" 200'
    assert redact(line) == (
        '127.0.0.1 - "GET /v1/journeys?status=active&person_id=[redacted] HTTP/1.1" 200'
    )


def test_anything_shaped_like_a_personnummer_is_masked() -> None:
    for number in ("19900101-0017", "199001010017", "900101-0017", "101010+1234"):
        assert number not in redact(f"refused {number} today")


def test_dates_and_journey_ids_survive() -> None:
    text = "journey 914142eb-3812-5a83-9a0e-7d0605f92264 exited 2026-04-10"
    assert redact(text) == text


def test_journey_ids_with_long_digit_runs_survive() -> None:
    # UUIDs whose hex groups are all digits look like YYYYMMDD-NNNC or a 12-digit number.
    for uuid in (
        "19900101-0017-5a83-9a0e-7d0605f92264",
        "9e199001-0101-5a83-9a0e-199001010017",
        "914142eb-3812-5a83-9a0e-900101001712",
    ):
        line = f'"POST /v1/journeys/{uuid}/exit HTTP/1.1" 200'
        assert redact(line) == line


def test_url_encoded_personnummer_is_masked() -> None:
    # A sole trader's organisation number is the owner's personnummer.
    for written in ("19900101%2D0017", "900101%2d0017", "101010%2B1234", "19900101%200017"):
        line = f'"GET /v1/journeys?provider_id={written} HTTP/1.1" 200'
        assert "0017" not in redact(line) and "1234" not in redact(line), written


def test_the_filter_rewrites_log_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s "%s %s"',
        ("127.0.0.1", "GET", "/v1/journeys?person_id=9001010017"),
        None,
    )
    Redact().filter(record)
    assert "9001010017" not in record.getMessage()


def access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )


def formatted(record: logging.LogRecord, fmt: str) -> str:
    """What a handler of the service's logging configuration writes for `record`."""
    config = log_config(fmt)
    handler_name = "access" if record.name == "uvicorn.access" else "default"
    spec = config["formatters"][config["handlers"][handler_name]["formatter"]]
    factory = spec.get("()")
    formatter = factory() if callable(factory) else logging.Formatter(spec.get("format"))
    Redact().filter(record)
    return formatter.format(record)


def test_json_logs_are_one_object_per_line_masked_and_searchable_by_journey() -> None:
    journey = "19900101-0017-5a83-9a0e-199001010017"
    line = formatted(access_record(f"/v1/journeys/{journey}?person_id=199001010017"), "json")
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["logger"] == "uvicorn.access" and parsed["level"] == "info"
    assert parsed["method"] == "GET" and parsed["status"] == 200
    assert parsed["path"] == f"/v1/journeys/{journey}?person_id=[redacted]"
    assert journey in parsed["message"] and parsed["time"].endswith("Z")


def test_an_exception_in_a_json_log_is_masked_too() -> None:
    try:
        raise ValueError("no journey for 19900101-0017")
    except ValueError:
        record = logging.LogRecord(
            "insats", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    parsed = json.loads(formatted(record, "json"))
    assert "19900101-0017" not in parsed["exception"] and "ValueError" in parsed["exception"]


def test_the_log_format_is_text_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSATS_LOG_FORMAT", "xml")
    with pytest.raises(SettingError, match="text or json"):
        log_config()
    monkeypatch.setenv("INSATS_LOG_FORMAT", "JSON")
    assert log_config()["formatters"]["default"]["()"] is JsonLines
    # The root logger (the application's own records) is masked like uvicorn's.
    assert log_config("text")["handlers"]["root"]["filters"] == ["redact"]
