"""Lag is measured against the last public event (issue 12): the log also holds internal records
(person locks, idempotency records) that no read model sees, so a caught-up read model is at
the public head, never "1–2 behind" nor permanently behind after an import."""

from __future__ import annotations

from datetime import date

from typer.testing import CliRunner

from insats.bootstrap import Container
from insats.cli import app as cli
from services.lifecycle.application import Idempotency
from tests.builders import authorise, ctx_of, decide
from tests.conftest import P1


def chosen_with_an_idempotency_key(container: Container, decision_id: str) -> None:
    """A decision and a provider choice sent with an Idempotency-Key: the choice's idempotency
    record, an internal record, is the last entry of the log."""
    app = container.lifecycle
    authorise(app)
    journey_id = decide(app, decision_id)
    app.choose_provider(
        ctx_of(app),
        journey_id,
        provider_id=P1,
        starts_on=date(2026, 1, 20),
        idem=Idempotency(f"key-{decision_id}", "fingerprint"),
    )
    assert app.max_position() > max(e.position for e in app.iter_public_events())


def test_caught_up_read_models_stand_at_the_public_head(container: Container) -> None:
    # given a log that ends with an internal record
    app = container.lifecycle
    chosen_with_an_idempotency_key(container, "lag-1")
    # when every read model has caught up
    container.feed.catch_up()
    # then each stands at the head the status and /metrics report
    head = container.source.max_position()
    assert head == max(e.position for e in app.iter_public_events())
    assert set(container.feed.positions().values()) == {head}


def test_readmodels_status_shows_no_lag_once_caught_up(
    container: Container, monkeypatch, tmp_path
) -> None:
    if container.config.sqlite_file is None:
        monkeypatch.setenv("INSATS_POSTGRES_URL", container.config.postgres_url or "")
        monkeypatch.setenv("INSATS_POSTGRES_SCHEMA", container.config.schema)
    else:
        monkeypatch.setenv("INSATS_DB", str(container.config.sqlite_file))
    chosen_with_an_idempotency_key(container, "lag-2")
    for feed in container.feeds:  # the read models' and the Merkle log's
        feed.catch_up()
    head = container.source.max_position()
    result = CliRunner().invoke(cli, ["readmodels", "status"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if " / " in line]
    rows = [line.split() for line in lines]
    assert rows and all(row[1] == str(head) and row[3] == str(head) for row in rows), rows
    # one column each, whatever the length of the read model's name
    assert len({line.index(" / ") for line in lines}) == 1, lines


def test_alerts_are_evaluated_when_the_log_ends_with_internal_records(
    container: Container,
) -> None:
    # given a journey whose plan is overdue today (the store's clock: INSATS_TODAY)
    chosen_with_an_idempotency_key(container, "lag-3")
    # when the feed catches up with a log that ends with an internal record
    container.feed.catch_up()
    # then the journey's alerts were evaluated, not left marked for a later batch
    with container.readmodel_db.transaction() as tx:
        dirty = tx.execute("SELECT journey_id FROM alerts_dirty").fetchall()
    assert dirty == []
