"""A read model that cannot apply an event stops alone, loudly, on both stores (issue 8): its
position and error are recorded, `readmodels status`, `/readyz`, `/metrics` and the responses it
backs say so (503 naming it, never stale figures as current), the other read models and the API
go on, and after a fix `readmodels rebuild NAME` brings it back. And the server starts on any
store an earlier release accepted — far-future dates included."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from contracts.events import PublicEvent
from contracts.journey import Exit
from insats.bootstrap import Container, build
from insats.cli import app as cli
from insats.web import create_app
from services.lifecycle.domain.journey import Journey
from services.lifecycle.domain.rates import Rates
from services.lifecycle.store import StoreConfig
from services.platform.auth import KeyStore
from services.platform.db import Tx
from services.statistics.projection import StatisticsProjection
from tests.builders import authorise, ctx_of, decide, start
from tests.conftest import P1, person
from tests.serving import insats_serve


class Bug(Exception):
    """A defect in a projection's code, met on one kind of event."""


@pytest.fixture
def statistics_bug(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bool]]:
    """The statistics projection cannot apply a JourneyExited while `active` holds: the state
    of a release with a bug, until the fixed release runs (`active` = False)."""
    fault = {"active": True}
    handle = StatisticsProjection.handle

    def buggy(self: StatisticsProjection, tx: Tx, events: Sequence[PublicEvent]) -> None:
        if fault["active"] and any(e.type == "JourneyExited" for e in events):
            raise Bug("cannot fold an exit")
        handle(self, tx, events)

    monkeypatch.setattr(StatisticsProjection, "handle", buggy)
    yield fault


def exit_journey(c: Container, journey_id: str) -> None:
    c.lifecycle.exit_journey(ctx_of(c.lifecycle), journey_id, Exit(date(2026, 3, 1), "moved"))


def test_a_read_model_that_cannot_apply_an_event_stops_alone_and_comes_back_after_a_fix(
    container: Container, statistics_bug: dict[str, bool], tmp_path: Path
) -> None:
    # given a journey that exits (the event statistics cannot apply) and facts after it
    app = container.lifecycle
    authorise(app)
    first = decide(app, "a", person("1980-01-01", "001"))
    start(app, first)
    exit_journey(container, first)
    exit_position = app.max_position()
    later = decide(app, "b", person("1980-01-01", "002"))
    start(app, later)
    head = app.public_events(0, 10_000)[-1].position

    # when the feed runs
    container.feed.catch_up()

    # then statistics stopped at the exit, with all before it applied, and the rest went on
    failures = container.feed.failures()
    assert list(failures) == ["statistics"]
    stopped = failures["statistics"]
    assert stopped.event_type == "JourneyExited" and stopped.position <= exit_position
    assert "Bug: cannot fold an exit" in stopped.error
    positions = container.feed.positions()
    before = [e.position for e in app.public_events(0, 10_000) if e.position < stopped.position]
    assert positions["statistics"] == before[-1]  # every event before it is applied
    assert {n: p for n, p in positions.items() if n != "statistics"} == {
        "journey_list": head,
        "alerts": head,
        "payments": head,
        "payout_references": head,
    }
    # and a second catch-up does not retry it (it stopped; it does not spin)
    container.feed.catch_up()
    assert container.feed.failures()["statistics"].failed_at == stopped.failed_at

    # what it backs answers 503 naming it; what others back answers
    container.keys = KeyStore(tmp_path / "keys.json")
    token = container.keys.add("auditor", "revisor")
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(container, run_feed=False)) as http:
        r = http.get(
            "/v1/statistics", params={"from": "2026-01-01", "to": "2026-12-31"}, headers=auth
        )
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert r.json()["error"] == "read_model_unavailable"
        assert "'statistics'" in r.json()["message"]
        assert (
            http.get(
                "/v1/statistics/report.csv",
                params={"from": "2026-01-01", "to": "2026-12-31"},
                headers=auth,
            ).status_code
            == 503
        )
        assert http.get("/v1/journeys", headers=auth).status_code == 200
        assert http.get("/v1/alerts", headers=auth).status_code == 200
        assert http.get(f"/v1/journeys/{later}", headers=auth).status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert "JourneyExited" in ready.json()["read_models"]["statistics"]
        metrics = http.get("/metrics", headers=auth).text
        assert 'insats_readmodel_stopped{readmodel="statistics"} 1.0' in metrics
        assert 'insats_readmodel_stopped{readmodel="payments"} 0.0' in metrics

    # and readmodels status says where and why, exiting non-zero
    config = container.config
    env = _cli_env(config)
    status = CliRunner().invoke(cli, ["readmodels", "status", *_store_args(config)], env=env)
    assert status.exit_code == 1, status.output
    assert "statistics" in status.output and "STOPPED" in status.output
    assert "JourneyExited" in status.output and "readmodels rebuild statistics" in status.output

    # when the fixed release rebuilds it
    statistics_bug["active"] = False
    rebuilt = CliRunner().invoke(
        cli, ["readmodels", "rebuild", "statistics", *_store_args(config)], env=env
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    # then it is back at the head with the exit counted
    assert container.feed.failures() == {}
    assert container.feed.positions()["statistics"] == head
    figures = container.services["statistics"].figures(date(2026, 1, 1), date(2026, 12, 31))
    assert figures["groups"]["total"]["exits"]["moved"] == 1


def test_a_new_process_tries_a_stopped_read_model_once_more(
    container: Container, statistics_bug: dict[str, bool]
) -> None:
    app = container.lifecycle
    authorise(app)
    jid = decide(app, "a", person("1980-01-01"))
    start(app, jid)
    exit_journey(container, jid)
    container.feed.catch_up()
    assert "statistics" in container.feed.failures()
    # a fixed release starts: the runner's first pass retries what was stopped
    statistics_bug["active"] = False
    container.feed.catch_up(retry_stopped=True)
    assert container.feed.failures() == {}
    assert len(set(container.feed.positions().values())) == 1


def test_payouts_refuse_while_the_payments_read_model_is_stopped(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.payments.projection import PaymentsProjection
    from services.platform.feed import ReadModelStopped

    handle = PaymentsProjection.handle

    def buggy(self: PaymentsProjection, tx: Tx, events: Sequence[PublicEvent]) -> None:
        if any(e.type == "ProviderChosen" for e in events):
            raise Bug("cannot fold a provider choice")
        handle(self, tx, events)

    monkeypatch.setattr(PaymentsProjection, "handle", buggy)
    app = container.lifecycle
    authorise(app)
    start(app, decide(app, "a", person("1980-01-01")))
    payments = container.services["payments"]
    monkeypatch.setenv("INSATS_TODAY", "2026-03-05")
    with pytest.raises(ReadModelStopped):
        payments.preview("2026-02")
    with pytest.raises(ReadModelStopped):
        payments.close("2026-02")
    assert payments.list_runs() == []


# --- the server starts on any store it ever accepted ----------------------------------------------


def write_what_an_earlier_release_accepted(config: StoreConfig) -> None:
    """Facts that releases before the bounds accepted (HTTP 200/201), written straight through
    the aggregates as those releases did."""
    c = build(config)
    try:
        app = c.lifecycle
        ctx = ctx_of(app)
        authorise(app)
        far = date(9999, 12, 31)
        # a provider choice on 9999-12-31
        j1 = app.journey(decide(app, "far-start", person("1980-01-01", "001"), insats="sai"))
        j1.trigger_event(Journey.ProviderChosen, provider_id=P1, starts_on=far, **ctx.meta(far))
        app.save(j1)
        # an SAI plan with its internship planned for 9999-12-31
        j2_id = decide(app, "far-plan", person("1980-01-01", "002"), insats="sai")
        start(app, j2_id)
        j2 = app.journey(j2_id)
        j2.trigger_event(
            Journey.PlanRegistered,
            established_on=date(2026, 2, 1),
            due_on=date(2026, 3, 21),
            late=False,
            planned_internship_start=far,
            planned_internship_share_percent=50,
            **ctx.meta(date(2026, 2, 1)),
        )
        app.save(j2)
        # a correction of starts_on to 9999-12-31
        j3_id = decide(app, "far-correction", person("1980-01-01", "003"))
        start(app, j3_id)
        j3 = app.journey(j3_id)
        j3.trigger_event(
            Journey.Corrected,
            what="starts_on",
            old="2026-01-20",
            new=far.isoformat(),
            reason="fel",
            provider_id=None,
            **ctx.meta(date(2026, 1, 20)),
        )
        app.save(j3)
        # a rate table with a 26-digit amount, for 2027
        rates = app.rates()
        assert isinstance(rates, Rates)
        rates.trigger_event(
            Rates.RatesSet,
            effective_from=date(2027, 1, 1),
            monthly={"grund": None, "forstarkt": None, "sai": int("1" * 26)},
            bonus={"grund": None, "forstarkt": None, "sai": None},
            voucher_min=5000,
            voucher_max=15000,
            min_days_before_payment=14,
            **ctx.meta(date(2027, 1, 1)),
        )
        app.save(rates)
    finally:
        c.close()


def test_the_server_starts_and_answers_on_a_store_with_far_future_facts(
    store_config: StoreConfig, tmp_path: Path
) -> None:
    write_what_an_earlier_release_accepted(store_config)
    env = _cli_env(store_config)
    env["INSATS_API_KEYS_FILE"] = str(tmp_path / "keys.json")
    token = KeyStore(tmp_path / "keys.json").add("auditor", "revisor")
    clerk = KeyStore(tmp_path / "keys.json").add("clerk", "kassa")
    args = _store_args(store_config)
    with insats_serve(args, env, tmp_path / "server.log") as server:
        base = server.base
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            assert http.get("/readyz").json()["status"] == "ready"
            status = CliRunner().invoke(
                cli, ["readmodels", "status", *_store_args(store_config)], env=env
            )
            assert status.exit_code == 0 and "STOPPED" not in status.output, status.output
            journeys = http.get("/v1/journeys", params={"limit": 100}).json()["journeys"]
            assert len(journeys) == 3
            for j in journeys:
                r = http.get(f"/v1/journeys/{j['journey_id']}")
                assert r.status_code == 200, r.text
            for path, params in (
                ("/v1/alerts", {}),
                ("/v1/alerts", {"as_of": "2099-12-31"}),
                ("/v1/statistics", {"from": "2026-01-01", "to": "2099-12-31"}),
                ("/v1/statistics/report.html", {"from": "2026-01-01", "to": "2026-12-31"}),
                ("/v1/events", {"limit": 1000}),
            ):
                r = http.get(path, params=params)
                assert r.status_code == 200, (path, r.text)
            pay = {"Authorization": f"Bearer {clerk}"}
            assert http.get("/v1/payouts/2026-10/preview", headers=pay).status_code == 200
            # the 26-digit rate is refused by name, not computed with
            r = http.get("/v1/payouts/2027-02/preview", headers=pay)
            assert r.status_code == 422 and r.json()["error"] == "rate_out_of_bounds", r.text
    assert "Traceback" not in server.output(), server.output()


def _store_args(config: StoreConfig) -> list[str]:
    if config.postgres_url:
        return ["--postgres", config.postgres_url]
    assert config.sqlite_file is not None
    return ["--db", str(config.sqlite_file)]


def _cli_env(config: StoreConfig) -> dict[str, Any]:
    env = dict(os.environ)
    if config.postgres_url:
        env["INSATS_POSTGRES_SCHEMA"] = config.schema
    return env
