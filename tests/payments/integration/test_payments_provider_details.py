"""Provider details in payout runs (SPEC §4.3): a run pays to the name and account in force on
the day it closes, stores them, and never changes afterwards — not when the details change, not
after a rebuild of the read model.

Given P1 "Jobbhjälpen AB", bankgiro 5050-1055, holding an SAI journey from 2026-05-04; the
change: "Jobbhjälpen Nacka AB", bankgiro 123-4566, effective 2026-06-01."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from services.payments.files import file_hashes, render_files
from services.payments.model import ProviderInfo
from services.payments.projection import PaymentsProjection
from services.payments.runs import PayoutRunClosed, run_id
from services.payments.verify import verify_runs
from services.platform.feed import FeedRunner
from tests.payments.paybuild import P1, Log, Wired, wire

OLD = ProviderInfo(P1, "Jobbhjälpen AB", "5050-1055", None)
NEW = ProviderInfo(P1, "Jobbhjälpen Nacka AB", "123-4566", None)
BASIS = "underlag-{p}-{m}.html"


@pytest.fixture
def w(tmp_path: Path) -> Wired:
    log = Log()
    log.default_rates()
    log.provider(P1, OLD.name, bankgiro=OLD.bankgiro)
    log.decision("j1", "sai", "2026-05-01")
    log.chosen("j1", P1, "2026-05-04")
    return wire(tmp_path, log, today="2026-06-02")


def change_name_and_bankgiro(w: Wired, effective_from: str = "2026-06-01") -> None:
    w.log.details_changed(P1, effective_from, NEW.name, bankgiro=NEW.bankgiro)
    w.publish()


def files_of(w: Wired, month: str) -> dict[str, bytes]:
    return {name: w.service.file(month, name) for name in w.service.file_names(month)}


def stored_providers(w: Wired, month: str) -> dict[str, dict[str, object]]:
    aggregate = w.runs.repository.get(run_id(month))
    (event,) = [e for e in w.runs.events.get(aggregate.id) if isinstance(e, PayoutRunClosed)]
    return event.providers


def test_a_run_closed_before_the_change_keeps_its_details_byte_for_byte(
    w: Wired, tmp_path: Path
) -> None:
    may = w.close("2026-05", today="2026-06-02")
    assert may.providers[P1] == OLD
    before = files_of(w, "2026-05")
    # When the change is recorded
    change_name_and_bankgiro(w)
    w.runner.catch_up()
    # then May's files are the same bytes — downloaded again, after a rebuild of the read
    # model, and from a fresh process that re-renders them from the stored run
    assert files_of(w, "2026-05") == before
    w.runner.rebuild(PaymentsProjection.name)
    assert files_of(w, "2026-05") == before
    fresh = wire(tmp_path, w.log, name="a")
    assert files_of(fresh, "2026-05") == before
    assert stored_providers(fresh, "2026-05") == {P1: OLD.to_json()}
    basis = before[BASIS.format(p=P1, m="2026-05")].decode()
    assert "Jobbhjälpen AB" in basis and "5050-1055" in basis


def test_a_run_closed_after_the_change_uses_the_new_details_in_every_file(w: Wired) -> None:
    w.close("2026-05", today="2026-06-02")
    change_name_and_bankgiro(w)
    june = w.close("2026-06", today="2026-07-01")
    assert june.providers[P1] == NEW
    assert stored_providers(w, "2026-06") == {P1: NEW.to_json()}
    csv = w.service.file("2026-06", "payout-2026-06.csv").decode("utf-8-sig")
    assert "Jobbhjälpen Nacka AB" in csv and "Jobbhjälpen AB;" not in csv
    sie = w.service.file("2026-06", "payout-2026-06.si").decode("cp437")  # SIE's PC8
    assert "Jobbhjälpen Nacka AB" in sie and "Jobbhjälpen AB" not in sie
    basis = w.service.file("2026-06", BASIS.format(p=P1, m="2026-06")).decode()
    assert "Jobbhjälpen Nacka AB" in basis and "123-4566" in basis
    assert "5050-1055" not in basis
    document = w.service.file("2026-06", "payout-2026-06.json").decode()
    assert '"bankgiro":"123-4566"' in document.replace(" ", "")
    # and May, closed before, still carries the old details
    assert w.service.get("2026-05").providers[P1] == OLD


def test_a_change_recorded_but_not_yet_in_force_is_not_used(w: Wired) -> None:
    """The change is known, but effective after the closing day: the run keeps the old details.
    (Effective dates, not recording dates, decide.)"""
    change_name_and_bankgiro(w, effective_from="2026-06-03")
    may = w.close("2026-05", today="2026-06-02")
    assert may.providers[P1] == OLD
    june = w.close("2026-06", today="2026-07-01")
    assert june.providers[P1] == NEW


def test_a_preview_shows_the_details_in_force_today(w: Wired) -> None:
    change_name_and_bankgiro(w, effective_from="2026-06-10")
    w.clock.day = w.clock.day.replace(day=9)  # 2026-06-09
    assert w.service.preview("2026-05").providers[P1] == OLD
    # the same facts at the same position, one day later: the new version is in force
    w.clock.day = w.clock.day.replace(day=10)
    assert w.service.preview("2026-05").providers[P1] == NEW
    assert w.service.close("2026-05").providers[P1] == NEW


def test_a_later_change_for_the_same_date_replaces_the_earlier(w: Wired) -> None:
    w.log.details_changed(P1, "2026-06-01", "Felstavat AB", bankgiro=NEW.bankgiro)
    change_name_and_bankgiro(w)
    assert w.close("2026-05", today="2026-06-02").providers[P1] == NEW


def test_the_dated_details_are_rebuilt_to_the_same_read_model(w: Wired) -> None:
    change_name_and_bankgiro(w)
    w.log.details_changed(
        P1, "2026-09-01", "Jobbhjälpen Värmdö AB", iban="SE4550000000058398257466"
    )
    w.publish()
    w.runner.catch_up()
    with w.db.transaction() as tx:
        before = w.service.projection.snapshot(tx).providers
    w.runner.rebuild(PaymentsProjection.name)
    with w.db.transaction() as tx:
        after = w.service.projection.snapshot(tx).providers
    assert after == before
    facts = after[P1].facts
    changes = facts.details[1:]  # after the authorisation's version
    assert [c.effective_from.isoformat() for c in changes] == ["2026-06-01", "2026-09-01"]
    version = facts.details_on(changes[1].effective_from)
    assert version is not None and version.iban == "SE4550000000058398257466"


def test_a_read_model_of_an_earlier_stored_form_is_rebuilt_on_restart(w: Wired) -> None:
    """An existing database from before the dated details (stored form 1): starting the new
    code rebuilds the payments read model from the log, and runs use the dated details."""
    w.runner.catch_up()
    with w.db.transaction() as tx:
        tx.execute("UPDATE feed_schema SET version = 1 WHERE name = 'payments'")
    # a restart: setup runs again
    runner = FeedRunner(w.source, w.db, [w.service.projection, w.service.references])
    assert runner.position("payments") == 0  # to be fed again from the start
    w.service.catch_up = lambda: runner.catch_up()
    change_name_and_bankgiro(w)
    assert w.close("2026-05", today="2026-06-02").providers[P1] == NEW


def test_every_run_is_reproduced_by_verify_after_a_change(w: Wired) -> None:
    w.close("2026-05", today="2026-06-02")
    change_name_and_bankgiro(w)
    w.log.details_changed(P1, "2026-08-01", "Jobbhjälpen Värmdö AB", bankgiro=NEW.bankgiro)
    w.publish()
    w.close("2026-06", today="2026-07-01")  # the August version is known, not yet in force
    w.close("2026-07", today="2026-08-01")
    runs = w.runs.closed()
    assert [runs[m].providers[P1].name for m in runs] == [
        "Jobbhjälpen AB",
        "Jobbhjälpen Nacka AB",
        "Jobbhjälpen Värmdö AB",
    ]
    assert verify_runs(w.source, w.runs) == []
    w.service.source = w.source
    assert w.service.verify() == []


def test_verify_reports_a_run_whose_stored_account_is_not_the_providers(w: Wired) -> None:
    may = w.close("2026-05", today="2026-06-02")
    change_name_and_bankgiro(w)
    for claimed in (
        replace(OLD, bankgiro="555-1239"),  # a valid bankgiro the provider never had
        NEW,  # the new details, not yet known when May closed
    ):
        # a stored run whose files were rendered, and hashed, with other details
        forged = replace(may, providers={P1: claimed})
        forged = replace(forged, files=file_hashes(render_files(forged)))
        problems = verify_runs(w.source, [forged])
        assert f"run 2026-05: file underlag-{P1}-2026-05.html is not reproduced by the replay" in (
            problems
        ), problems
    assert verify_runs(w.source, [may]) == []
