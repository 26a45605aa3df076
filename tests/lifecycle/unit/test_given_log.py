"""The one event-log builder (tests/given.py) states past events as the application records them,
and refuses to state what the public contract would not carry."""

from __future__ import annotations

import pytest

from contracts.journey import Evidence, Exit, Plan
from contracts.schemas import validation_errors
from services.lifecycle.domain.journey import ExternalRef
from tests.given import P1, P2, EventLog, InvalidGivenEvent, d, personnummer, when


def test_the_builder_states_a_journey_as_the_application_records_it() -> None:
    """Given the same facts recorded by the application's commands and stated with the
    builder's defaults, then both logs hold the same events: stream, version, type, effective
    date and payload (voucher ids aside, which the application draws)."""
    pnr = personnummer("1990-01-01", "042")
    providers = EventLog()
    providers.provider_authorised(P1)
    providers.provider_authorised(P2)
    providers.rates_published()
    app = when(providers)
    app.register_decision(
        external_ref=ExternalRef("ecos", "d-1"),
        person_id=pnr,
        insats="sai",
        decided_on=d("2026-01-10"),
        decided_by="kv-anna",
        target_group="other",
    )
    journey = str(app.result.resource["journey_id"])
    app.choose_provider(journey, provider_id=P1, starts_on=d("2026-01-20"))
    app.register_plan(journey, Plan(d("2026-02-01"), d("2026-03-01"), 60))
    app.start_internship(
        journey, employer="Bageriet AB", started_on=d("2026-03-01"), share_percent=60
    )
    app.end_internship(journey, ended_on=d("2026-03-31"))
    app.choose_provider(journey, provider_id=P2, starts_on=d("2026-04-01"))
    app.grant_voucher(journey, amount="5000", purpose="körkort B", granted_on=d("2026-04-02"))
    app.exit_journey(
        journey,
        Exit(d("2026-05-10"), "work", employment_form="fixed_term", contract_months=12),
    )
    app.record_follow_up(
        journey,
        followed_up_on=d("2026-11-10"),
        outcome="sustained",
        evidence=[Evidence("anställningsbevis", "doc-1", d("2026-11-10"))],
    )
    app.review_bonus_claim(
        journey, reviewed_on=d("2026-11-12"), decision="returned", reason="intyg saknas"
    )
    app.correct_journey(journey, field="exited_on", value=d("2026-05-08"), reason="fel datum")
    recorded = app.app.public_events(0, 100)

    given = EventLog()
    given.provider_authorised(P1)
    given.provider_authorised(P2)
    given.rates_published()
    stated = given.decision(insats="sai", person_id=pnr)
    given.provider_chosen(stated, P1, "2026-01-20")
    given.plan(
        stated,
        "2026-02-01",
        due_on="2026-03-21",
        planned_internship_start="2026-03-01",
        planned_internship_share_percent=60,
    )
    given.internship_started(stated, "2026-03-01")
    given.internship_ended(stated, "2026-03-31")
    given.provider_changed(stated, P2, "2026-04-01")
    given.voucher(stated, "2026-04-02", voucher_id=recorded[9].payload["voucher_id"])
    given.exited(stated, "2026-05-10")
    given.follow_up(stated, "2026-11-10", due_on="2026-11-10")
    given.bonus_reviewed(stated, "2026-11-12", "returned")
    given.corrected(stated, "exited_on", "2026-05-10", "2026-05-08")

    assert stated == journey

    def shape(events: list) -> list:  # type: ignore[type-arg]
        return [(e.stream_id, e.version, e.type, e.effective_date, e.payload) for e in events]

    assert shape(given.events) == shape(recorded)


def test_a_given_event_the_contract_would_not_carry_fails_where_it_is_built() -> None:
    given = EventLog()
    journey = given.started()
    with pytest.raises(InvalidGivenEvent, match="JourneyExited"):
        given.exited(journey, "2026-04-10", "vacation")
    with pytest.raises(InvalidGivenEvent, match="VoucherGranted"):
        given.voucher(journey, "2026-02-01", "5000")  # money has two decimals
    with pytest.raises(InvalidGivenEvent, match="ProviderChosen"):
        given.provider_chosen(journey, P1, "2026-02-30")
    assert [e.type for e in given.events] == ["DecisionRegistered", "ProviderChosen"]
    assert [e.position for e in given.events] == [1, 2]


def test_raw_states_a_deliberately_invalid_or_legacy_event() -> None:
    given = EventLog()
    journey = given.started()
    event = given.raw(journey, "JourneyExited", {"exited_on": "2026-04-10"}, "2026-04-10")
    assert given.events[-1] is event and event.version == 3
    assert validation_errors(event.to_dict()) != []


def test_events_are_placed_in_the_log_as_asked() -> None:
    given = EventLog(start=4, step=3)
    given.provider_authorised(P1)
    given.rates_published()
    assert [e.position for e in given.events] == [7, 10]
    assert [e.version for e in given.events] == [1, 2]  # the rate stream opens at version 1
