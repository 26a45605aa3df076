"""Auditors replay everything and reproduce every closed run and its files (SPEC §2)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from services.payments.runs import PayoutRuns
from services.payments.verify import verify_runs
from services.platform.feed import ListEventSource
from tests.payments.paybuild import P1, P2, Log, Wired, wire


@pytest.fixture
def w(tmp_path: Path) -> Wired:
    log = Log()
    log.default_rates()
    log.provider(P1, "Jobbhjälpen AB")
    log.provider(P2, "Framtidsvägen AB")
    w = wire(tmp_path, log)
    log.decision("j1", "sai")
    log.chosen("j1", P1, "2026-01-20")
    log.decision("j2", "grund")
    log.chosen("j2", P2, "2026-01-03")
    w.close("2026-01", today="2026-02-01")
    log.changed("j1", P2, "2026-02-10", P1)
    log.voucher("j2", "v1", "6000.00", "2026-02-11")
    w.close("2026-02", today="2026-03-01")
    log.exited("j2", "2026-02-20", "work", employment_form="permanent")
    log.provider(P2, "Framtidsvägen i Nacka AB")  # renamed after February closed
    log.corrected("j1", "provider_starts_on", "2026-02-10", "2026-02-05", provider_id=P2)
    w.close("2026-04", today="2026-05-01")  # March folded into April
    log.review("j2", "2026-08-25")  # known now, but after every closed run
    w.publish()
    return w


def test_every_closed_run_and_file_is_reproduced_from_the_event_log(w: Wired) -> None:
    assert len(w.runs.closed()) == 3
    assert verify_runs(w.source, w.runs) == []
    assert w.service.verify() == [
        "payments: no event source configured, closed runs cannot be verified"
    ]
    w.service.source = w.source
    assert w.service.verify() == []


def test_a_run_whose_stored_line_was_altered_is_reported(w: Wired, tmp_path: Path) -> None:
    runs = list(w.runs.closed().values())
    feb = runs[1]
    first = feb.lines[0]
    tampered = replace(
        feb, lines=(first._replace(amount=first.amount + Decimal("1.00")), *feb.lines[1:])
    )
    problems = verify_runs(w.source, [runs[0], tampered, runs[2]])
    assert any("run 2026-02: stored line not reproduced" in p for p in problems)
    assert any("run 2026-02: recomputed line not in the stored run" in p for p in problems)
    assert any("run 2026-02: stored file digest for payout-2026-02.csv" in p for p in problems)
    assert not [p for p in problems if p.startswith("run 2026-01")]
    # and the later run, recomputed on what the tampered run claims was paid, no longer matches
    assert any(
        p.startswith("run 2026-04: recomputed line") and "amount=-1.00" in p for p in problems
    )


def test_a_log_that_lost_an_event_does_not_reproduce_the_runs(w: Wired) -> None:
    events = [e for e in w.log.events if e.type != "ProviderChanged"]
    problems = verify_runs(ListEventSource(events), w.runs)
    assert any(p.startswith("run 2026-02: stored line not reproduced") for p in problems)
    assert any("file payout-2026-02.csv is not reproduced" in p for p in problems)


def test_provider_details_are_those_known_at_closing(w: Wired, tmp_path: Path) -> None:
    april = w.runs.closed()["2026-04"]
    assert april.providers[P2].name == "Framtidsvägen i Nacka AB"
    feb = w.runs.closed()["2026-02"]
    assert feb.providers[P2].name == "Framtidsvägen AB"
    reopened = PayoutRuns(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "runs-a.db"),
        }
    )
    assert verify_runs(w.source, reopened) == []
