"""The public event contract, version 1.

Every event that leaves the event store — the auditors' feed (`GET /v1/events`), `insats events
export`, Kafka, and the feed that payments, alerts and statistics read — is an `EventEnvelope`
whose `payload` matches the model of its `type` below. The JSON Schemas in `contracts/events/v1/`
are generated from these models (`insats contracts write`) and a test fails when they drift.

Personnummer never appears here: a journey carries `person_ref`, a keyed pseudonym that is stable
within one installation. `person_id` is present only in exports made with `--include-person-ids`
(needed to import into another store) and is otherwise absent.

Dates are ISO `YYYY-MM-DD` (Europe/Stockholm calendar dates), timestamps RFC 3339 UTC, money strings
with two decimals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from contracts.bounds import MAX_NAME

CONTRACT_VERSION = 1

Money = Annotated[
    Decimal,
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json"),
    Field(json_schema_extra={"type": "string", "pattern": r"^-?\d+\.\d{2}$"}),
]

Insats = Literal["grund", "forstarkt", "sai"]
INSATS_TYPES: tuple[str, ...] = ("grund", "forstarkt", "sai")

ExitReason = Literal[
    "work",
    "studies",
    "own_business",
    "other_insats",
    "moved",
    "illness",
    "other_authority",
    "dropped_out",
    "other",
]
EXIT_REASONS: tuple[str, ...] = (
    "work",
    "studies",
    "own_business",
    "other_insats",
    "moved",
    "illness",
    "other_authority",
    "dropped_out",
    "other",
)
SELF_SUFFICIENT_REASONS: frozenset[str] = frozenset({"work", "studies", "own_business"})

TargetGroup = Literal[
    "youth",
    "income_support",
    "newly_arrived_establishment",
    "newly_arrived_own_housing",
    "family_reunification",
    "after_establishment",
    "other",
]
TARGET_GROUPS: tuple[str, ...] = (
    "youth",
    "income_support",
    "newly_arrived_establishment",
    "newly_arrived_own_housing",
    "family_reunification",
    "after_establishment",
    "other",
)

EmploymentForm = Literal["permanent", "fixed_term", "full_time_hourly"]
Subsidy = Literal["none", "extratjanst", "nystartsjobb", "instegsjobb", "other"]
FollowUpOutcome = Literal["sustained", "deviation"]
ReviewDecision = Literal["approved", "returned"]
PersonIdKind = Literal["personnummer", "samordningsnummer"]
CorrectionField = Literal["starts_on", "exited_on", "exit", "provider_starts_on"]

StreamType = Literal["journey", "provider", "rates"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExternalRef(_Payload):
    system: str = Field(min_length=1, max_length=100)
    decision_id: str = Field(min_length=1, max_length=200)


class Evidence(_Payload):
    type: str = Field(min_length=1, max_length=100)
    id: str = Field(min_length=1, max_length=200)
    date: dt.date


class ExitDetails(_Payload):
    """The facts of an exit; also the `old`/`new` value of an `exit` correction."""

    exited_on: date
    reason: ExitReason
    employment_form: EmploymentForm | None = None
    contract_months: int | None = None
    subsidy: Subsidy | None = None
    csn_eligible: bool | None = None
    next_journey_id: str | None = None


# --- journey stream ---------------------------------------------------------------------------


class DecisionRegistered(_Payload):
    external_ref: ExternalRef
    person_ref: str
    person_id_kind: PersonIdKind
    person_id: str | None = Field(
        default=None, description="Only in exports made with --include-person-ids."
    )
    insats: Insats
    decided_on: date
    decided_by: str
    target_group: TargetGroup
    transfer_from: str | None = Field(
        default=None, description="journey_id of the journey this one replaces (annan insats)"
    )
    counsellor: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        description="The counsellor who follows the customer, as the deciding system names "
        "them (their worklist filters by it). Added in v1.1: absent in earlier events.",
    )


class ProviderChosen(_Payload):
    provider_id: str
    starts_on: date


class ProviderChanged(_Payload):
    provider_id: str
    starts_on: date
    previous_provider_id: str


class PlanRegistered(_Payload):
    established_on: date
    due_on: date
    late: bool
    planned_internship_start: date | None = None
    planned_internship_share_percent: int | None = None


class LanguageInternshipStarted(_Payload):
    employer: str
    started_on: date
    share_percent: int


class LanguageInternshipEnded(_Payload):
    ended_on: date


class VoucherGranted(_Payload):
    voucher_id: str
    amount: Money
    purpose: str
    granted_on: date


class JourneyExited(ExitDetails):
    pass


class FollowUpRecorded(_Payload):
    followed_up_on: date
    outcome: FollowUpOutcome
    evidence: list[Evidence]
    due_on: date
    bonus_claim: bool = Field(
        description="True when this is the provider's bonus claim: sustained, with evidence, "
        "on or after the due date, for an exit that qualifies for the bonus."
    )


class BonusClaimReviewed(_Payload):
    reviewed_on: date
    decision: ReviewDecision
    reason: str | None = None


class DecisionWithdrawn(_Payload):
    withdrawn_on: date
    reason: str


class Corrected(_Payload):
    what: CorrectionField
    old: Any = Field(description="date string, or an exit object for `exit`")
    new: Any = Field(description="date string, or an exit object for `exit`")
    reason: str
    provider_id: str | None = Field(
        default=None, description="for provider_starts_on: whose assignment start moved"
    )


# --- provider and rate streams ----------------------------------------------------------------


class ProviderAuthorised(_Payload):
    provider_id: str
    name: str
    insats_types: list[Insats]
    authorised_from: date
    bankgiro: str | None = None
    iban: str | None = None


class ProviderDeauthorised(_Payload):
    provider_id: str
    effective_on: date
    reason: str


class ProviderDetailsChanged(_Payload):
    """The provider's name and payment account from `effective_from` until the next change by
    effective_from (of two with the same effective_from, the later recorded one holds). Every
    field is the whole value in force then, not only what changed; payout runs use the version
    in force on the day they close."""

    provider_id: str
    effective_from: date
    name: str
    bankgiro: str | None = Field(default=None, description="NNN-NNNN or NNNN-NNNN")
    iban: str | None = Field(default=None, description="Swedish IBAN, compact (SE + 22 digits)")
    reason: str


class PerInsats(_Payload):
    grund: Money | None = None
    forstarkt: Money | None = None
    sai: Money | None = None


class RatesSet(_Payload):
    effective_from: date
    monthly: PerInsats
    bonus: PerInsats
    voucher_min: Money
    voucher_max: Money
    min_days_before_payment: int


PAYLOAD_MODELS: dict[str, type[_Payload]] = {
    "DecisionRegistered": DecisionRegistered,
    "ProviderChosen": ProviderChosen,
    "ProviderChanged": ProviderChanged,
    "PlanRegistered": PlanRegistered,
    "LanguageInternshipStarted": LanguageInternshipStarted,
    "LanguageInternshipEnded": LanguageInternshipEnded,
    "VoucherGranted": VoucherGranted,
    "JourneyExited": JourneyExited,
    "FollowUpRecorded": FollowUpRecorded,
    "BonusClaimReviewed": BonusClaimReviewed,
    "DecisionWithdrawn": DecisionWithdrawn,
    "Corrected": Corrected,
    "ProviderAuthorised": ProviderAuthorised,
    "ProviderDeauthorised": ProviderDeauthorised,
    "ProviderDetailsChanged": ProviderDetailsChanged,
    "RatesSet": RatesSet,
}

STREAM_TYPE_OF: dict[str, str] = {
    **{name: "journey" for name in PAYLOAD_MODELS},
    "ProviderAuthorised": "provider",
    "ProviderDeauthorised": "provider",
    "ProviderDetailsChanged": "provider",
    "RatesSet": "rates",
}


class EventEnvelope(BaseModel):
    """One public event. `position` is the event's place in the store's global ordered log
    (gaps are allowed); `event_id` is stable for the event forever (a deterministic UUID of
    stream and version), so consumers de-duplicate by it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    position: int
    event_id: str
    stream_id: str
    stream_type: StreamType
    type: str
    version: int
    effective_date: date
    recorded_at: datetime
    actor: str
    source_system: str
    correlation_id: str
    contract_version: int = CONTRACT_VERSION
    payload: dict[str, Any]


def envelope_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event type's envelope."""
    payload_schema = PAYLOAD_MODELS[event_type].model_json_schema(mode="serialization")
    defs = payload_schema.pop("$defs", {})
    env = EventEnvelope.model_json_schema(mode="serialization")
    env.pop("title", None)
    env["properties"]["payload"] = payload_schema
    env["properties"]["type"] = {"const": event_type}
    env["properties"]["stream_type"] = {"const": STREAM_TYPE_OF[event_type]}
    env["properties"]["contract_version"] = {"const": CONTRACT_VERSION}
    env["additionalProperties"] = False
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://insats.example/contracts/events/v{CONTRACT_VERSION}/{event_type}.json",
        "title": event_type,
        **env,
    }
    if defs:
        schema["$defs"] = defs
    return schema


@dataclass(frozen=True, slots=True)
class PublicEvent:
    """The envelope as a light value, for code that reads many events (read models, relays).

    `payload` holds JSON data exactly as in the schema (dates as ISO strings, money as strings),
    so a consumer reading from Kafka and one reading from the store see the same thing."""

    position: int
    event_id: str
    stream_id: str
    stream_type: str
    type: str
    version: int
    effective_date: str
    recorded_at: str
    actor: str
    source_system: str
    correlation_id: str
    payload: dict[str, Any]
    contract_version: int = CONTRACT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "stream_type": self.stream_type,
            "type": self.type,
            "version": self.version,
            "effective_date": self.effective_date,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "source_system": self.source_system,
            "correlation_id": self.correlation_id,
            "contract_version": self.contract_version,
            "payload": self.payload,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PublicEvent:
        return cls(
            position=int(data["position"]),
            event_id=str(data["event_id"]),
            stream_id=str(data["stream_id"]),
            stream_type=str(data["stream_type"]),
            type=str(data["type"]),
            version=int(data["version"]),
            effective_date=str(data["effective_date"]),
            recorded_at=str(data["recorded_at"]),
            actor=str(data["actor"]),
            source_system=str(data["source_system"]),
            correlation_id=str(data["correlation_id"]),
            payload=dict(data["payload"]),
            contract_version=int(data.get("contract_version", CONTRACT_VERSION)),
        )
