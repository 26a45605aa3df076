"""Export/import of the public contract, the contract files themselves, and encryption at rest."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from contracts.events import PAYLOAD_MODELS
from contracts.schemas import render_schema, schema_path, validation_errors
from insats.bootstrap import Container, build
from insats.openapi import OPENAPI_PATH, current_openapi, render
from services.lifecycle.domain.journey import ExternalRef, Transfer
from services.lifecycle.store import StoreConfig
from services.lifecycle.transfer import ImportError_, export_events, import_events
from tests.builders import authorise, decide, start
from tests.conftest import P1, person


def populate(c: Container) -> str:
    app = c.lifecycle
    ctx = app.context("publisher:ecos", "ecos", "corr-42")
    authorise(app)
    app.change_provider_details(
        app.context("admin:anna", "admin", "corr-41"),
        P1,
        effective_from=date(2026, 3, 1),
        reason="namnbyte",
        changes={"name": "Anordnare Nacka AB", "bankgiro": "123-4566"},
    )
    jid = decide(app, "1")
    start(app, jid)
    app.grant_voucher(ctx, jid, amount="7000", purpose="Körkort", granted_on=date(2026, 2, 2))
    new = str(
        app.register_decision(
            ctx,
            external_ref=ExternalRef("ecos", "2"),
            person_id=person("1990-01-01"),
            insats="sai",
            decided_on=date(2026, 5, 1),
            decided_by="kv",
            target_group="other",
            transfer_from=Transfer(jid, date(2026, 4, 30)),
        ).resource["journey_id"]
    )
    return new


def test_every_emitted_event_matches_its_schema(container: Container) -> None:
    populate(container)
    events = list(container.lifecycle.iter_public_events())
    assert {e.type for e in events} >= {
        "RatesSet",
        "ProviderAuthorised",
        "ProviderDetailsChanged",
        "DecisionRegistered",
        "ProviderChosen",
        "VoucherGranted",
        "JourneyExited",
    }
    for e in events:
        assert validation_errors(e.to_dict()) == [], e.type


def test_export_then_import_into_an_empty_store_keeps_the_facts(
    container: Container, tmp_path: Path
) -> None:
    open_journey = populate(container)
    out = io.StringIO()
    export_events(container.lifecycle, out, include_person_ids=True)
    lines = out.getvalue().splitlines()

    target = build(
        StoreConfig(sqlite_file=tmp_path / "copy" / "insats.db"), record_default_rates=False
    )
    try:
        imported = import_events(target.lifecycle, lines)
        assert imported == len(lines)
        originals = [json.loads(line) for line in lines]
        copies = list(target.lifecycle.iter_public_events(include_person_id=True))
        for a, b in zip(originals, copies, strict=True):
            assert (
                b.type,
                b.stream_id,
                b.version,
                b.effective_date,
                b.actor,
                b.correlation_id,
            ) == (
                a["type"],
                a["stream_id"],
                a["version"],
                a["effective_date"],
                a["actor"],
                a["correlation_id"],
            )
            assert b.source_system == "import"
            assert b.payload == a["payload"]
        # the person lock came along: the open journey still blocks a second one
        from services.platform.refusal import Conflict

        ctx = target.lifecycle.context("publisher:ecos", "ecos", "x")
        with pytest.raises(Conflict):
            target.lifecycle.register_decision(
                ctx,
                external_ref=ExternalRef("ecos", "3"),
                person_id=person("1990-01-01"),
                insats="grund",
                decided_on=date(2026, 6, 1),
                decided_by="kv",
                target_group="other",
            )
        assert target.lifecycle.journey(open_journey).is_open
    finally:
        target.close()


def test_import_refuses_a_bad_file_and_records_nothing(
    container: Container, tmp_path: Path
) -> None:
    populate(container)
    out = io.StringIO()
    export_events(container.lifecycle, out, include_person_ids=False)  # no person ids
    target = build(
        StoreConfig(sqlite_file=tmp_path / "copy" / "insats.db"), record_default_rates=False
    )
    try:
        with pytest.raises(ImportError_, match="person_id"):
            import_events(target.lifecycle, out.getvalue().splitlines())
        with pytest.raises(ImportError_, match="line 1"):
            import_events(target.lifecycle, ['{"type": "JourneyExited", "payload": {}}'])
        for line in ('{"type": ["JourneyExited"]}', '{"type": {}}', "[1, 2]", '"text"'):
            with pytest.raises(ImportError_, match="line 1: unknown event type"):
                import_events(target.lifecycle, [line])
        assert target.lifecycle.max_position() == 0
    finally:
        target.close()


def test_event_schema_files_match_the_contract_models() -> None:
    for event_type in PAYLOAD_MODELS:
        assert schema_path(event_type).read_text(encoding="utf-8") == render_schema(event_type), (
            f"contracts/events/v1/{event_type}.json is stale: run `insats contracts write`"
        )


def test_openapi_document_matches_the_running_app() -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render(current_openapi()), (
        "contracts/openapi.json is stale: run `insats contracts write`"
    )


def test_personal_data_is_encrypted_at_rest_when_a_key_is_configured(tmp_path: Path) -> None:
    from eventsourcing.cryptography import AESCipher

    key = AESCipher.create_key(32)
    config = StoreConfig(sqlite_file=tmp_path / "enc" / "insats.db", cipher_key=key)
    c = build(config)
    try:
        populate(c)
    finally:
        c.close()
    raw = b"".join(
        row[0]
        for row in sqlite3.connect(config.sqlite_file).execute("SELECT state FROM stored_events")
    )
    assert person("1990-01-01").replace("-", "").encode() not in raw
    reopened = build(config)
    try:
        decisions = [
            e for e in reopened.lifecycle.iter_public_events() if e.type == "DecisionRegistered"
        ]
        assert len(decisions) == 2
    finally:
        reopened.close()
