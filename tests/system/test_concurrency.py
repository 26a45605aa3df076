"""Concurrent writers on both stores: exactly one wins on a pinned version; without If-Match every
command is decided again on fresh state, so none is lost; one open journey per person holds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from insats.bootstrap import Container
from services.lifecycle.application import Idempotency
from services.lifecycle.domain.journey import ExternalRef
from services.lifecycle.store import StoreConfig
from services.platform.refusal import Conflict
from tests.builders import authorise, decide, start
from tests.conftest import PG_URL, person

WRITERS = 8


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in n threads released at the same moment; results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def started_journey(c: Container) -> str:
    authorise(c.lifecycle)
    jid = decide(c.lifecycle, "race", person("1985-03-03"))
    start(c.lifecycle, jid)
    return jid


def grant_voucher(c: Container, jid: str, purpose: str, version: int | None = None) -> Any:
    app = c.lifecycle
    ctx = app.context("publisher:test", "test", "race")
    return app.grant_voucher(
        ctx,
        jid,
        amount="5000",
        purpose=purpose,
        granted_on=date(2026, 2, 1),
        expected_version=version,
    )


def test_concurrent_writers_on_one_version_exactly_one_wins(container: Container) -> None:
    app = container.lifecycle
    jid = started_journey(container)
    version = app.journey(jid).version
    results = race(WRITERS, lambda i: grant_voucher(container, jid, f"v{i}", version))
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1
    assert all(isinstance(e, Conflict) and e.code == "stale_version" for e in losses)
    assert len(app.journey(jid).facts.vouchers) == 1


def test_without_if_match_no_concurrent_command_is_lost(container: Container) -> None:
    app = container.lifecycle
    jid = started_journey(container)
    results = race(4, lambda i: grant_voucher(container, jid, f"v{i}"))
    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(v.purpose for v in app.journey(jid).facts.vouchers) == ["v0", "v1", "v2", "v3"]


def test_concurrent_decisions_for_one_person_open_exactly_one_journey(container: Container) -> None:
    app = container.lifecycle
    ctx = app.context("publisher:test", "test", "race")
    pnr = person("1985-03-03")

    def decide(i: int) -> Any:
        return app.register_decision(
            ctx,
            external_ref=ExternalRef("t", f"p{i}"),
            person_id=pnr,
            insats="grund",
            decided_on=date(2026, 1, 10),
            decided_by="kv",
            target_group="other",
        )

    results = race(WRITERS, decide)
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1, results
    assert all(
        isinstance(e, Conflict) and e.code == "open_journey_exists"
        for e in results
        if isinstance(e, Exception)
    )
    decisions = [e for e in app.iter_public_events() if e.type == "DecisionRegistered"]
    assert len(decisions) == 1


def test_instances_starting_together_record_the_default_rates_once(
    store_config: StoreConfig,
) -> None:
    from insats.bootstrap import build

    instances = [build(store_config, record_default_rates=False) for _ in range(4)]
    try:
        race(4, lambda i: instances[i].lifecycle.ensure_default_rates())
        rate_sets = [e for e in instances[0].lifecycle.iter_public_events() if e.type == "RatesSet"]
        assert len(rate_sets) == 1
    finally:
        for c in instances:
            c.close()


@pytest.mark.postgres
def test_instances_starting_at_the_same_moment_on_a_new_database_all_start(
    request: pytest.FixtureRequest,
) -> None:
    """Concurrent CREATE … IF NOT EXISTS of one table fails in PostgreSQL ("tuple concurrently
    updated"): instances started together set up their tables one at a time."""
    from insats.bootstrap import build
    from tests.conftest import make_config

    for attempt in range(3):
        config = make_config("postgres", Path(f"/tmp/unused-{attempt}"), request)
        if attempt:  # a fresh schema each attempt (the fixture gives one per test)
            config = replace(config, schema=f"{config.schema}_{attempt}")
        try:
            results = race(6, lambda i, config=config: build(config))
            failures = [r for r in results if isinstance(r, Exception)]
            assert failures == [], failures
            rate_sets = [
                e for e in results[0].lifecycle.iter_public_events() if e.type == "RatesSet"
            ]
            assert len(rate_sets) == 1
        finally:
            for c in results:
                if not isinstance(c, Exception):
                    c.close()
            drop_schema(config.schema)


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_concurrent_commands_on_different_journeys_are_each_recorded_whole(
    container: Container,
) -> None:
    # given journeys of different persons (on PostgreSQL their commands share transactions:
    # services.lifecycle.store.GroupCommit)
    app = container.lifecycle
    authorise(app)
    journeys = [decide(app, f"race{i}", person(f"1980-01-{i + 10:02d}")) for i in range(WRITERS)]
    for jid in journeys:
        start(app, jid)
    # when each gets a voucher and a second one at the same moment
    results = race(2 * WRITERS, lambda i: grant_voucher(container, journeys[i % WRITERS], f"v{i}"))
    # then every command was recorded, each journey has both, at distinct log positions
    assert all(not isinstance(r, Exception) for r in results), results
    for n, jid in enumerate(journeys):
        assert sorted(v.purpose for v in app.journey(jid).facts.vouchers) == sorted(
            [f"v{n}", f"v{n + WRITERS}"]
        )
    positions = [e.position for e in app.iter_public_events()]
    assert positions == sorted(set(positions))
    assert sorted({r.position for r in results}) == sorted(r.position for r in results)


def test_concurrent_requests_with_one_idempotency_key_record_once(container: Container) -> None:
    app = container.lifecycle
    jid = started_journey(container)
    ctx = app.context("publisher:test", "test", "race")
    idem = Idempotency("same-request", "fingerprint")
    results = race(
        WRITERS,
        lambda i: app.grant_voucher(
            ctx, jid, amount="5000", purpose="once", granted_on=date(2026, 2, 1), idem=idem
        ),
    )
    assert all(not isinstance(r, Exception) for r in results), results
    assert len({repr(r.resource) for r in results}) == 1  # every answer the first one's
    assert [v.purpose for v in app.journey(jid).facts.vouchers] == ["once"]
