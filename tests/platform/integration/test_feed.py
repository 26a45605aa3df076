"""The read-model feed on both stores: update and position commit together, so a crash neither
loses nor repeats an effect; restarts resume; rebuilds reproduce the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from contracts.events import PublicEvent
from insats.bootstrap import Container, build
from services.lifecycle.store import StoreConfig
from services.platform.db import Tx
from services.platform.feed import FeedRunner
from tests.builders import authorise, decide, start
from tests.conftest import person


class PowerCut(BaseException):
    """The process dies mid-batch (not an error the feed handles: nothing after it runs)."""


class CountingProjection:
    """Counts events per type; optionally crashes once after writing part of a batch."""

    name = "counting"

    def __init__(self, crash_at: int | None = None):
        self.crash_at = crash_at

    def setup(self, tx: Tx) -> None:
        tx.execute("CREATE TABLE IF NOT EXISTS counts (type TEXT PRIMARY KEY, n BIGINT NOT NULL)")

    def reset(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS counts")

    def handle(self, tx: Tx, events: Sequence[PublicEvent]) -> None:
        for i, e in enumerate(events):
            if self.crash_at is not None and i == self.crash_at:
                self.crash_at = None
                raise PowerCut()
            tx.execute(
                "INSERT INTO counts (type, n) VALUES (%s, 1) "
                "ON CONFLICT (type) DO UPDATE SET n = counts.n + 1",
                (e.type,),
            )


def counts(runner: FeedRunner) -> dict[str, int]:
    with runner.db.transaction() as tx:
        return {t: int(n) for t, n in tx.execute("SELECT type, n FROM counts").fetchall()}


def last_public_position(c: Container) -> int:
    return c.lifecycle.public_events(0, 100_000)[-1].position


def record_journeys(c: Container, n: int, first: int = 0) -> None:
    if first == 0:
        authorise(c.lifecycle)
    for i in range(first, first + n):
        jid = decide(c.lifecycle, str(i), person("1985-03-03", f"{i:03d}"))
        start(c.lifecycle, jid)


def test_a_crash_mid_batch_neither_loses_nor_repeats(container: Container) -> None:
    record_journeys(container, 5)
    projection = CountingProjection(crash_at=4)
    runner = FeedRunner(container.source, container.readmodel_db, [projection], batch_size=100)
    with pytest.raises(PowerCut):
        runner.catch_up()
    assert counts(runner) == {} and runner.position("counting") == 0
    runner.catch_up()
    assert counts(runner) == {
        "RatesSet": 1,
        "ProviderAuthorised": 1,
        "DecisionRegistered": 5,
        "ProviderChosen": 5,
    }
    assert runner.position("counting") == last_public_position(container)


def test_a_restart_resumes_after_the_last_committed_position(store_config: StoreConfig) -> None:
    first = build(store_config)
    record_journeys(first, 3)
    runner = FeedRunner(first.source, first.readmodel_db, [CountingProjection()], batch_size=2)
    runner.catch_up()
    first.close()

    second = build(store_config)
    record_journeys(second, 2, first=3)
    runner2 = FeedRunner(second.source, second.readmodel_db, [CountingProjection()], batch_size=2)
    runner2.catch_up()
    assert counts(runner2)["DecisionRegistered"] == 5
    assert counts(runner2)["RatesSet"] == 1
    second.close()


def test_the_background_feed_follows_new_events(container: Container) -> None:
    container.feed.start()
    try:
        record_journeys(container, 2)
        container.feed.wait_until(last_public_position(container), timeout=30)
    finally:
        container.feed.stop()
    with container.readmodel_db.transaction() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM journey_list WHERE starts_on IS NOT NULL") == 2


def test_a_rebuild_reproduces_the_same_rows(container: Container) -> None:
    record_journeys(container, 4)
    container.feed.catch_up()

    def rows() -> list[Any]:
        with container.readmodel_db.transaction() as tx:
            return sorted(tx.execute("SELECT * FROM journey_list").fetchall())

    before = rows()
    assert len(before) == 4
    container.feed.rebuild("journey_list")
    assert rows() == before


def test_two_feeders_of_one_database_apply_each_event_once(container: Container) -> None:
    import threading

    record_journeys(container, 6)
    runners = [
        FeedRunner(container.source, container.readmodel_db, [CountingProjection()], batch_size=1)
        for _ in range(2)
    ]
    barrier = threading.Barrier(2)

    def feed(runner: FeedRunner) -> None:
        barrier.wait()
        runner.catch_up()

    threads = [threading.Thread(target=feed, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts(runners[0])["DecisionRegistered"] == 6
    assert counts(runners[0])["ProviderChosen"] == 6


class CountingReads:
    """A source that counts how often each page of the log is read."""

    def __init__(self, source: Any):
        self.source = source
        self.reads: list[int] = []

    def read(self, after: int, limit: int) -> Sequence[PublicEvent]:
        self.reads.append(after)
        return self.source.read(after, limit)

    def max_position(self) -> int:
        return int(self.source.max_position())

    def wait_for_new(self, timeout: float) -> None:
        return None


def test_rebuilding_every_read_model_reads_each_page_of_the_log_once(
    container: Container,
) -> None:
    # given journeys over several pages of the log, and the read models as fed one by one
    record_journeys(container, 30)
    container.feed.catch_up()
    with container.readmodel_db.transaction() as tx:
        before = {n: sorted(tx.execute(f"SELECT * FROM {n}").fetchall()) for n in ("journey_list",)}
    reads = CountingReads(container.source)
    runner = FeedRunner(reads, container.readmodel_db, container.feed.projections.values())
    runner.rebuild_batch_size = 25  # pages of the rebuild
    # when all of them are rebuilt together
    applied = runner.rebuild()
    # then each page was read once for all of them, and every one is at the head again
    pages = [e.position for e in container.lifecycle.public_events(0, 10_000)][24::25]
    assert reads.reads == [0, *pages]
    head = last_public_position(container)
    assert set(runner.positions().values()) == {head}
    assert applied == len(runner.projections) * len(container.lifecycle.public_events(0, 10_000))
    with container.readmodel_db.transaction() as tx:
        assert {n: sorted(tx.execute(f"SELECT * FROM {n}").fetchall()) for n in before} == before


def test_read_models_at_different_positions_catch_up_in_one_pass(container: Container) -> None:
    # given one read model behind the others (say, added in a new release)
    record_journeys(container, 5)
    container.feed.catch_up()
    behind = container.feed.projections["journey_list"]
    with container.readmodel_db.transaction() as tx:
        behind.reset(tx)
        behind.setup(tx)
        tx.execute("UPDATE feed_tracking SET position = 0 WHERE name = 'journey_list'")
    record_journeys(container, 2, first=5)
    # when the feed catches up, then each applies exactly what it had not
    container.feed.catch_up()
    head = last_public_position(container)
    assert set(container.feed.positions().values()) == {head}
    with container.readmodel_db.transaction() as tx:
        assert tx.scalar("SELECT count(*) FROM journey_list") == 7
    # and the others applied nothing twice: a replay into fresh read models gives their rows
    from insats.audit import verify_read_models
    from insats.bootstrap import fresh_projections

    assert verify_read_models(container, lambda: fresh_projections(container)) == []
