"""The timeouts and request limits read from the environment."""

from __future__ import annotations

import pytest

from services.platform.db import PgTimeouts
from services.platform.limits import MiB, RequestLimits


def test_timeouts_default_to_a_few_seconds() -> None:
    t = PgTimeouts.from_env({})
    assert (t.connect, t.pool, t.statement, t.readiness) == (3, 3, 5.0, 2.0)
    assert t.connect_kwargs(search_path="s") == {
        "connect_timeout": 3,
        "options": "-c search_path=s -c statement_timeout=5000",
    }


def test_timeouts_from_the_environment_round_trip() -> None:
    t = PgTimeouts.from_env(
        {
            "INSATS_POSTGRES_CONNECT_TIMEOUT": "2.5",  # libpq takes whole seconds
            "INSATS_POSTGRES_POOL_TIMEOUT": "4",
            "INSATS_POSTGRES_STATEMENT_TIMEOUT": "0.25",
            "INSATS_READINESS_TIMEOUT": "",
        }
    )
    assert (t.connect, t.pool, t.statement, t.readiness) == (3, 4, 0.25, 2.0)
    assert t.connect_kwargs()["options"] == "-c statement_timeout=250"
    assert PgTimeouts.from_env(t.as_env()) == t


@pytest.mark.parametrize("text", ["soon", "-1", "inf", "nan"])
def test_a_timeout_that_is_not_a_number_of_seconds_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="INSATS_POSTGRES_POOL_TIMEOUT"):
        PgTimeouts.from_env({"INSATS_POSTGRES_POOL_TIMEOUT": text})


def test_request_limits_default_and_from_the_environment() -> None:
    assert RequestLimits.from_env({}) == RequestLimits(
        max_body=MiB, max_url=8192, max_headers=16384, body_timeout=10, header_timeout=10
    )
    limits = RequestLimits.from_env(
        {
            "INSATS_MAX_BODY_BYTES": "2048",
            "INSATS_BODY_TIMEOUT": "0.5",
            "INSATS_KEEP_ALIVE_TIMEOUT": "2",
            "INSATS_LIMIT_CONCURRENCY": "500",
        }
    )
    assert (limits.max_body, limits.body_timeout, limits.keep_alive) == (2048, 0.5, 2)
    assert limits.limit_concurrency == 500
    assert limits.max_head == 8192 + 16384 + 4096


@pytest.mark.parametrize("text", ["0", "-5", "lots", "inf"])
def test_a_limit_must_be_a_positive_number(text: str) -> None:
    with pytest.raises(ValueError, match="INSATS_MAX_BODY_BYTES"):
        RequestLimits.from_env({"INSATS_MAX_BODY_BYTES": text})
