"""The baseline for `bench/commands.py`: what a team without insats would build for the same
four commands — a minimal FastAPI service over a plain `eventsourcing` Application on the same
PostgreSQL database, served by uvicorn like `insats serve` (one process, same host and port
style), driven by the same client.

    python -m bench.baseline_service --port 8001 --postgres URL --schema SCHEMA

POST /decisions creates an aggregate; POST /journeys/{id}/provider | plan | exit load it, apply
one event and save it (optimistic concurrency as the library does it). Pydantic bodies, a small
JSON view of the aggregate as the answer; no authentication, no rules beyond the order of the
steps, no read models.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any
from uuid import UUID

import uvicorn
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from fastapi import FastAPI, HTTPException
from psycopg.conninfo import conninfo_to_dict
from pydantic import BaseModel, ConfigDict


class Case(Aggregate):
    @event("Decided")
    def __init__(self, person_id: str, insats: str, decided_on: str) -> None:
        self.person_id, self.insats, self.decided_on = person_id, insats, decided_on
        self.provider_id: str | None = None
        self.starts_on: str | None = None
        self.plan_on: str | None = None
        self.exited_on: str | None = None

    @event("ProviderChosen")
    def choose(self, provider_id: str, starts_on: str) -> None:
        self.provider_id, self.starts_on = provider_id, starts_on

    @event("PlanRegistered")
    def plan(self, established_on: str) -> None:
        self.plan_on = established_on

    @event("Exited")
    def exit(self, exited_on: str, reason: str) -> None:
        self.exited_on = exited_on

    def view(self) -> dict[str, Any]:
        return {
            "journey_id": str(self.id),
            "version": self.version,
            "person_id": self.person_id,
            "insats": self.insats,
            "decided_on": self.decided_on,
            "provider_id": self.provider_id,
            "starts_on": self.starts_on,
            "plan_established_on": self.plan_on,
            "exited_on": self.exited_on,
            "status": "exited" if self.exited_on else "active" if self.starts_on else "decided",
        }


class Cases(Application[UUID]):
    pass


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExternalRefIn(In):
    system: str
    decision_id: str


class DecisionIn(In):
    external_ref: ExternalRefIn
    person_id: str
    insats: str
    decided_on: date
    decided_by: str
    target_group: str


class ProviderIn(In):
    provider_id: str
    starts_on: date


class PlanIn(In):
    established_on: date


class ExitIn(In):
    exited_on: date
    reason: str


def plain_postgres_env(postgres_url: str, schema: str) -> dict[str, str]:
    """A plain eventsourcing Application's settings for this database and schema (the
    baselines: this service and bench/commands.py's in-process one)."""
    params = conninfo_to_dict(postgres_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params["dbname"]),
        "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(params.get("port", "5432")),
        "POSTGRES_USER": str(params.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(params.get("password", "")),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": "8",
        "POSTGRES_MAX_OVERFLOW": "8",
    }


def create_app(postgres_url: str, schema: str) -> FastAPI:
    cases = Cases(plain_postgres_env(postgres_url, schema))
    app = FastAPI(title="baseline")

    def load(journey_id: str) -> Case:
        try:
            case: Case = cases.repository.get(UUID(journey_id))
        except (AggregateNotFoundError, ValueError):
            raise HTTPException(404, "unknown journey") from None
        return case

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/decisions", status_code=201)
    def decide(body: DecisionIn) -> dict[str, Any]:
        case = Case(body.person_id, body.insats, body.decided_on.isoformat())
        cases.save(case)
        return case.view()

    @app.post("/journeys/{journey_id}/provider")
    def provider(journey_id: str, body: ProviderIn) -> dict[str, Any]:
        case = load(journey_id)
        case.choose(body.provider_id, body.starts_on.isoformat())
        cases.save(case)
        return case.view()

    @app.post("/journeys/{journey_id}/plan")
    def plan(journey_id: str, body: PlanIn) -> dict[str, Any]:
        case = load(journey_id)
        case.plan(body.established_on.isoformat())
        cases.save(case)
        return case.view()

    @app.post("/journeys/{journey_id}/exit")
    def exit_(journey_id: str, body: ExitIn) -> dict[str, Any]:
        case = load(journey_id)
        case.exit(body.exited_on.isoformat(), body.reason)
        cases.save(case)
        return case.view()

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--schema", default="public")
    args = parser.parse_args()
    # As `insats serve` runs uvicorn: one process, log level info (access lines), keep-alive 5 s.
    uvicorn.run(
        create_app(args.postgres, args.schema),
        host=args.host,
        port=args.port,
        log_level="info",
        timeout_keep_alive=5,
    )


if __name__ == "__main__":
    main()
