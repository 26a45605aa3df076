"""The payments read model does not depend on how the log is cut into batches (auditors'
replay compares it row by row with a replay in one batch)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from contracts.events import PublicEvent
from services.payments.projection import PaymentsProjection
from services.platform.db import SQLiteDatabase
from services.platform.feed import FeedRunner, ListEventSource

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "events.jsonl.gz"


def rows_after_feeding(events: list[PublicEvent], batch_size: int) -> list[Any]:
    db = SQLiteDatabase(":memory:")
    FeedRunner(
        ListEventSource(events), db, [PaymentsProjection()], batch_size=batch_size
    ).catch_up()
    with db.transaction() as tx:
        return sorted(
            tx.execute("SELECT * FROM pay_journeys").fetchall()
            + tx.execute("SELECT * FROM pay_providers").fetchall()
            + tx.execute("SELECT * FROM pay_rates").fetchall()
        )


def test_the_rows_are_the_same_fed_one_event_at_a_time_or_all_at_once() -> None:
    with gzip.open(RECORDED, "rt", encoding="utf-8") as lines:
        events = [PublicEvent.from_dict(json.loads(line)) for line in lines][:1500]
    # (changed_at differs by design only if an event changes nothing: it does not here)
    assert rows_after_feeding(events, 1) == rows_after_feeding(events, 10_000)


def test_the_whole_recorded_log_gives_the_same_rows_in_any_batches() -> None:
    # providers, rates and every kind of journey fact, cut into batches of any size
    with gzip.open(RECORDED, "rt", encoding="utf-8") as lines:
        events = [PublicEvent.from_dict(json.loads(line)) for line in lines]
    whole = rows_after_feeding(events, 100_000)
    assert rows_after_feeding(events, 97) == whole
    assert rows_after_feeding(events[:3000], 1) == rows_after_feeding(events[:3000], 100_000)
