"""Group commit (services/lifecycle/store.GroupCommit): commands that arrive while a transaction
is being written are recorded together in the next one; each stays all or nothing, and a stale
one fails alone with the error it would have had alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from services.lifecycle.store import GroupCommit


def records(n: int, stale: bool = False) -> list[StoredEvent]:
    topic = "stale" if stale else "fine"
    return [StoredEvent(uuid4(), v, topic, b"{}") for v in range(1, n + 1)]


class Store:
    """Writes as the database would: positions in order; a transaction holding a stale record
    fails whole; `hold` keeps the first transaction open until released."""

    def __init__(self, down: bool = False) -> None:
        self.last = 0
        self.transactions: list[list[int]] = []  # commands' record counts per transaction
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.down = down

    def _commit(self, commands: Sequence[Sequence[StoredEvent]]) -> list[list[int]]:
        if not self.transactions:
            self.holding.set()
            assert self.hold.wait(10)
        if self.down and self.transactions:
            self.transactions.append([len(c) for c in commands])
            raise OperationalError("the database is away")
        self.transactions.append([len(c) for c in commands])
        if any(e.topic == "stale" for c in commands for e in c):
            raise IntegrityError("duplicate key value violates unique constraint")
        out = []
        for c in commands:
            out.append(list(range(self.last + 1, self.last + len(c) + 1)))
            self.last += len(c)
        return out

    def one(self, events: Sequence[StoredEvent]) -> Sequence[int]:
        return self._commit([events])[0]

    def many(self, commands: Sequence[Sequence[StoredEvent]]) -> list[list[int]]:
        return self._commit(commands)


def concurrently(
    group: GroupCommit, store: Store, first: list[StoredEvent], rest: list[list[StoredEvent]]
) -> dict[int, Any]:
    """The first command's transaction held open while the others arrive, then released."""
    outcomes: dict[int, Any] = {}

    def run(i: int, events: list[StoredEvent]) -> None:
        try:
            outcomes[i] = list(group.record(events))
        except Exception as error:  # reported in the outcome
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(0, first))]
    threads[0].start()
    assert store.holding.wait(10)
    for i, events in enumerate(rest, start=1):
        threads.append(threading.Thread(target=run, args=(i, events)))
        threads[-1].start()
    while len(group._queue) < len(rest):  # every other command waits in the queue
        threading.Event().wait(0.01)
    store.hold.set()
    for t in threads:
        t.join(10)
    return outcomes


def test_a_command_alone_is_written_at_once_in_its_own_transaction() -> None:
    store = Store()
    store.hold.set()
    group = GroupCommit(store.one, store.many)
    assert list(group.record(records(2))) == [1, 2]
    assert list(group.record(records(1))) == [3]
    assert store.transactions == [[2], [1]]


def test_commands_arriving_during_a_transaction_are_written_together_in_the_next() -> None:
    store = Store()
    group = GroupCommit(store.one, store.many)
    outcomes = concurrently(group, store, records(2), [records(1), records(3), records(2)])
    assert store.transactions[0] == [2]
    assert sorted(store.transactions[1]) == [1, 2, 3]  # one transaction for the three
    assert outcomes[0] == [1, 2]
    positions = sorted(p for i in (1, 2, 3) for p in outcomes[i])
    assert positions == [3, 4, 5, 6, 7, 8]
    assert [len(outcomes[i]) for i in (1, 2, 3)] == [1, 3, 2]


def test_a_stale_command_fails_alone_and_the_others_of_its_transaction_are_recorded() -> None:
    store = Store()
    group = GroupCommit(store.one, store.many)
    outcomes = concurrently(
        group, store, records(1), [records(2), records(1, stale=True), records(1)]
    )
    # the shared transaction failed whole, then each was written alone
    assert len(store.transactions) == 1 + 1 + 3
    assert isinstance(outcomes[2], IntegrityError)
    assert sorted(len(outcomes[i]) for i in (1, 3)) == [1, 2]
    assert store.last == 4  # the first command's one record and the two others' three


def test_the_database_away_fails_every_command_of_the_transaction_and_records_none() -> None:
    store = Store(down=True)
    group = GroupCommit(store.one, store.many)
    outcomes = concurrently(group, store, records(1), [records(1), records(2)])
    assert outcomes[0] == [1]
    assert all(isinstance(outcomes[i], OperationalError) for i in (1, 2))
    assert store.last == 1


def test_a_transaction_carries_at_most_max_events_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GroupCommit, "MAX_EVENTS", 3)
    store = Store()
    group = GroupCommit(store.one, store.many)
    outcomes = concurrently(group, store, records(1), [records(2), records(2), records(1)])
    assert all(sum(t) <= 3 for t in store.transactions)
    assert sorted(p for o in outcomes.values() for p in o) == list(range(1, 7))
