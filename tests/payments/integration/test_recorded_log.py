"""Payout files are byte-identical for the same events, whatever the code became (issue 9).

`recorded/events.jsonl.gz` is two years of a municipality recorded through the lifecycle
application (`recorded/record.py`), with every kind of fact and correction; `recorded/runs.json`
holds each run as it was closed then: the day, the time, the log position it was computed
from, its total and the SHA-256 of every file. Given the same events up to each position, when
each month is closed on the same day at the same time, then every run has the same total and
every file the same bytes."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.events import PublicEvent
from services.payments.model import FIRST_LAYOUT, Booking
from services.payments.projection import PaymentsProjection
from services.payments.runs import PayoutRuns
from services.payments.service import PaymentsService, feed_catch_up
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource

RECORDED = Path(__file__).resolve().parents[1] / "recorded"


def recorded_events() -> list[PublicEvent]:
    with gzip.open(RECORDED / "events.jsonl.gz", "rt", encoding="utf-8") as lines:
        return [PublicEvent.from_dict(json.loads(line)) for line in lines]


def recorded_runs() -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = json.loads((RECORDED / "runs.json").read_text(encoding="utf-8"))
    return runs


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], Any]]:
    tmp = tmp_path_factory.mktemp("recorded")
    events = recorded_events()
    source = ListEventSource()
    db = SQLiteDatabase(tmp / "readmodels.db")
    projection = PaymentsProjection()
    clock: dict[str, Any] = {}
    service = PaymentsService(
        db,
        PayoutRuns(
            {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "r.db")}
        ),
        projection=projection,
        booking=Booking(),
        source=source,
        today=lambda: clock["today"],
        now=lambda: clock["now"],
        layout=FIRST_LAYOUT,  # the layout the runs were recorded in (issue 11 added layout 2)
    )
    runner = FeedRunner(source, db, [projection, service.references])
    service.catch_up = feed_catch_up(runner)
    results = []
    published = 0
    try:
        for recorded in recorded_runs():
            while published < len(events) and events[published].position <= recorded["position"]:
                source.append(events[published])
                published += 1
            clock["today"] = date.fromisoformat(recorded["today"])
            clock["now"] = datetime.fromisoformat(recorded["closed_at"].replace("Z", "+00:00"))
            results.append((recorded, service.close(recorded["month"])))
    finally:
        service.shutdown()
        db.close()
    return results


def test_the_recording_covers_what_payments_depend_on() -> None:
    events = recorded_events()
    kinds = {(e.type, e.payload.get("what")) for e in events}
    for needed in (
        ("ProviderChanged", None),
        ("VoucherGranted", None),
        ("BonusClaimReviewed", None),
        ("DecisionWithdrawn", None),
        ("ProviderDeauthorised", None),
        ("ProviderDetailsChanged", None),
        ("Corrected", "starts_on"),
        ("Corrected", "exited_on"),
        ("Corrected", "exit"),
        ("Corrected", "provider_starts_on"),
    ):
        assert needed in kinds, needed
    assert sum(1 for e in events if e.type == "RatesSet") == 2
    assert len(recorded_runs()) == 23


def test_every_run_closes_with_the_same_total_and_the_same_file_bytes(
    replayed: list[tuple[dict[str, Any], Any]],
) -> None:
    for recorded, run in replayed:
        assert run.position == recorded["position"], recorded["month"]
        assert run.closed_at == recorded["closed_at"], recorded["month"]
        assert (f"{run.total:.2f}", len(run.lines)) == (recorded["total"], recorded["lines"]), (
            recorded["month"]
        )
        assert dict(run.files) == recorded["files"], recorded["month"]
