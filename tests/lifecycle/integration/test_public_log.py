"""The log read at its speed (`PublicDecoder`, stored bytes → envelope) gives exactly what the
mapper's way gives (stored bytes → domain event → envelope): for every public event type,
with and without person ids, plain, encrypted and compressed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID, uuid4, uuid5

import pytest
from eventsourcing.cryptography import AESCipher

from contracts.events import PAYLOAD_MODELS
from contracts.journey import Exit, Plan
from insats.bootstrap import Container
from services.lifecycle.application import LifecycleApp, PersonRefKey, public_event
from services.lifecycle.domain.base import INSATS_NS, Fact, event_id, to_json_data
from services.lifecycle.domain.journey import ExternalRef
from services.lifecycle.public_log import read_stored_json
from services.lifecycle.transfer import import_events
from tests.builders import ctx_of, person
from tests.given import P1, P2, PERSON_KEY, EventLog, _with_person_ids

PLAIN: dict[str, str] = {}
ENCRYPTED = {
    "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
    "CIPHER_KEY": AESCipher.create_key(16),
}
COMPRESSED = {**ENCRYPTED, "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}


def every_event_type() -> EventLog:
    log = EventLog()
    log.rates_published()
    log.rates_published("2026-07-01", sai="7500.50", grund=None)
    log.provider_authorised(P1)
    log.provider_authorised(P2)
    log.provider_details_changed(P1, "2026-03-01", name="Nytt Namn AB")
    a = log.decision(external_ref=("ecos", "A-1"))
    log.provider_chosen(a, P1, "2026-01-20")
    log.plan(a, "2026-02-10")
    log.internship_started(a, "2026-03-01")
    log.internship_ended(a, "2026-04-01")
    log.voucher(a, "2026-02-02", "7000.50")
    log.provider_changed(a, P2, "2026-05-01")
    log.corrected(a, "starts_on", "2026-01-20", "2026-01-21")
    log.exited(a, "2026-06-30")
    log.follow_up(a, "2026-12-30", bonus_claim=True)
    log.bonus_reviewed(a, "2027-01-10")
    b = log.decision(insats="sai", external_ref=("ecos", "B-1"))
    log.withdrawn(b, "2026-01-15")
    log.provider_deauthorised(P2, "2026-08-01")
    return log


def app_with(env: dict[str, str]) -> LifecycleApp:
    app = LifecycleApp(
        {"PERSISTENCE_MODULE": "eventsourcing.popo", **env},
        person_key=PersonRefKey(bytes.fromhex(PERSON_KEY)),
        today=lambda: date(2027, 2, 1),
    )
    import_events(app, (json.dumps(line) for line in _with_person_ids(every_event_type())))
    # and a decision recorded by a command, with the field added to v1 later
    ctx = app.context("publisher:ecos", "ecos", "corr-1")
    c = app.register_decision(
        ctx,
        external_ref=ExternalRef("ecos", "C-1"),
        person_id="19900101-0017",
        insats="forstarkt",
        decided_on=date(2027, 1, 10),
        decided_by="kv",
        target_group="other",
        counsellor="Karin K",
    ).resource["journey_id"]
    # money as a command stores it (a Decimal as written, not quantised)
    app.choose_provider(ctx, c, provider_id=P1, starts_on=date(2027, 1, 20))
    app.grant_voucher(ctx, c, amount="7000.5", purpose="Körkort", granted_on=date(2027, 1, 25))
    return app


@pytest.mark.parametrize("env", [PLAIN, ENCRYPTED, COMPRESSED], ids=["plain", "aes", "zlib+aes"])
@pytest.mark.parametrize("include_person_id", [False, True])
def test_the_fast_way_gives_the_mappers_envelope_for_every_event_type(
    env: dict[str, str], include_person_id: bool
) -> None:
    app = app_with(env)
    notifications = app.recorder.select_notifications(start=0, limit=10_000)
    seen = set()
    for n in notifications:
        domain = app.mapper.to_domain_event(n)
        fast = app.public_decoder.decode(n, include_person_id=include_person_id)
        if not isinstance(domain, Fact) or not app.public_decoder.is_public(n.topic):
            assert fast is None  # person locks, idempotency records, the rates stream's opening
            continue
        slow = public_event(n.id, domain, include_person_id=include_person_id)
        assert fast == slow
        assert json.dumps(fast.to_dict()) == json.dumps(slow.to_dict())  # key order too
        seen.add(fast.type)
    assert seen == set(PAYLOAD_MODELS)


def test_the_event_id_is_the_uuid5_of_the_stream_and_version() -> None:
    for version in range(1, 200):
        stream = uuid4()
        expected = str(uuid5(INSATS_NS, f"event:{stream}:{version}"))
        assert event_id(stream, version) == event_id(str(stream), version) == expected


@pytest.mark.parametrize(
    "value",
    [
        date(2026, 2, 28),
        datetime(2026, 2, 28, 9, 30, tzinfo=UTC),
        datetime(2026, 2, 28, 9, 30, 0, 1234, tzinfo=UTC),
        Decimal("7000.5"),
        Decimal("-12.345"),
        Decimal("3686"),
        UUID("1141b74c-eeab-40fd-aa48-e58c5995b77c"),
        {"grund": Decimal("1.5"), "sai": [date(2026, 1, 1)]},
    ],
)
def test_each_stored_value_reads_as_its_public_form(value: object) -> None:
    transcoder = app_with(PLAIN).mapper.transcoder
    assert read_stored_json(transcoder.encode({"v": value}))["v"] == to_json_data(value)


def test_a_streams_public_events_are_read_by_its_key_as_the_log_holds_them(
    container: Container,
) -> None:
    """`public_stream` (audit bundles) reads a journey's positions by the events table's key:
    the same events, positions and order as filtering the whole log, and nothing of the
    internal streams (the person lock, idempotency records) or of other journeys."""
    from tests.builders import authorise, decide, start

    app = container.lifecycle
    authorise(app)
    first = decide(app, "S-1", person("1990-01-01", "001"))
    other = decide(app, "S-2", person("1991-01-01", "002"))
    start(app, first)
    start(app, other)
    app.register_plan(ctx_of(app), first, Plan(date(2026, 2, 10), None, None))
    app.exit_journey(ctx_of(app), first, Exit(date(2026, 4, 10), "moved"))
    scanned = [e for e in app.iter_public_events() if e.stream_id == first]
    assert [e.type for e in scanned] == [
        "DecisionRegistered",
        "ProviderChosen",
        "PlanRegistered",
        "JourneyExited",
    ]
    assert app.public_stream(first) == scanned
    assert app.public_stream(uuid4()) == []
