"""The lifecycle application: one use case per method (load → decide → save atomically).

Built on `eventsourcing.Application`: aggregates are saved with optimistic concurrency (a stale
write fails on the unique (stream, version) key), and all aggregates of one command are saved in
one transaction, so a command records all of its events or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Notification, Transcoding
from eventsourcing.utils import get_topic

from contracts.events import INSATS_TYPES, TARGET_GROUPS, PublicEvent
from contracts.journey import Evidence, Exit, Plan, ProviderFacts
from contracts.rates import default_rates
from services.lifecycle.domain.base import CommandContext, Fact, event_id
from services.lifecycle.domain.idempotency import IdempotentRequest, idempotency_stream_id
from services.lifecycle.domain.journey import (
    Correction,
    ExternalRef,
    Journey,
    Transfer,
    journey_id_for,
)
from services.lifecycle.domain.person import PersonJourneys, person_stream_id
from services.lifecycle.domain.personnummer import parse_person_id
from services.lifecycle.domain.provider import Provider, provider_stream_id
from services.lifecycle.domain.rates import RATES_STREAM_ID, Rates, RateTable
from services.lifecycle.public_log import (
    PublicDecoder,
    StoredRecord,
    read_records,
    record_digest,
)
from services.lifecycle.store import stream_positions
from services.lifecycle.transcoder import StoredJSONTranscoder
from services.platform.identifiers import normalise_org_number
from services.platform.refusal import Conflict, Invalid, NotFound

_PUBLIC: list[tuple[Any, str]] = [
    (Journey.DecisionRegistered, "journey"),
    (Journey.ProviderChosen, "journey"),
    (Journey.ProviderChanged, "journey"),
    (Journey.PlanRegistered, "journey"),
    (Journey.LanguageInternshipStarted, "journey"),
    (Journey.LanguageInternshipEnded, "journey"),
    (Journey.VoucherGranted, "journey"),
    (Journey.JourneyExited, "journey"),
    (Journey.FollowUpRecorded, "journey"),
    (Journey.BonusClaimReviewed, "journey"),
    (Journey.DecisionWithdrawn, "journey"),
    (Journey.Corrected, "journey"),
    (Provider.ProviderAuthorised, "provider"),
    (Provider.ProviderDeauthorised, "provider"),
    (Provider.ProviderDetailsChanged, "provider"),
    (Rates.RatesSet, "rates"),
]
PUBLIC_EVENT_CLASSES: dict[str, tuple[type[Fact], str]] = {
    cls.__name__: (cls, stream_type) for cls, stream_type in _PUBLIC
}
STREAM_TYPE_BY_CLASS = {cls: st for cls, st in PUBLIC_EVENT_CLASSES.values()}
PUBLIC_TOPICS: tuple[str, ...] = tuple(get_topic(cls) for cls, _ in PUBLIC_EVENT_CLASSES.values())


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class CommandResult:
    """What a command did: HTTP status and the resource to show, at the version it produced."""

    status: int
    resource: dict[str, Any]
    position: int | None = None
    replayed: bool = False
    # The aggregate as the command left it, so the response needs no second read.
    aggregate: Any = field(default=None, compare=False, repr=False)
    # The facts of the journey's providers, read with it (the view's de-authorisations).
    providers: dict[str, ProviderFacts] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Idempotency:
    key: str
    fingerprint: str


class PersonRefKey:
    """Keyed pseudonyms for persons: stable within an installation, not reversible without the
    key (a plain hash of a personnummer is, by trying all numbers)."""

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("the person reference key must be at least 16 bytes")
        self._key = key

    def ref(self, person_number: str) -> str:
        return hmac.new(self._key, person_number.encode(), hashlib.sha256).hexdigest()[:32]


def facts_of_providers(
    provider: Callable[[str], Provider], provider_ids: Iterable[str]
) -> dict[str, ProviderFacts]:
    """The facts of the providers that exist among `provider_ids` (one never authorised has
    none: it cuts no journey's spans)."""
    out: dict[str, ProviderFacts] = {}
    for pid in provider_ids:
        try:
            out[pid] = provider(pid).facts
        except NotFound:
            continue
    return out


class StreamsRead:
    """The aggregates a command read together (`LifecycleApp._read`): a stream not read there
    is read when asked for, as `repository.get` would."""

    def __init__(self, app: LifecycleApp, found: dict[UUID, Any]):
        self._app = app
        self._found = found
        self._asked = set(found)

    def get(self, stream_id: UUID) -> Any:
        """The aggregate, or None when there is no such stream."""
        if stream_id not in self._asked:
            self._asked.add(stream_id)
            with contextlib.suppress(AggregateNotFoundError):
                self._found[stream_id] = self._app.repository.get(stream_id)
        return self._found.get(stream_id)

    def provider(self, provider_id: str) -> Provider:
        """As `LifecycleApp.provider`: NotFound for one never authorised."""
        pid = normalise_org_number(provider_id)
        agg = self.get(provider_stream_id(pid))
        if not isinstance(agg, Provider):
            raise NotFound("not_found", f"unknown provider {pid}", "provider_id")
        return agg

    def provider_facts(self, provider_ids: Iterable[str]) -> dict[str, ProviderFacts]:
        """As `LifecycleApp.provider_facts`."""
        return facts_of_providers(self.provider, provider_ids)


_REREAD = object()  # LifecycleApp._forward: the stream must be read again


class LifecycleApp(Application[UUID]):
    name = "Lifecycle"
    # The cache fast-forwards from the store on every read, so it stays right with many
    # instances; it saves re-reading and decoding whole streams.
    env: ClassVar[dict[str, str]] = {
        "COMPRESSOR_TOPIC": "",
        "IS_SNAPSHOTTING_ENABLED": "n",
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "TRANSCODER_TOPIC": get_topic(StoredJSONTranscoder),
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        person_key: PersonRefKey,
        today: Callable[[], date],
    ) -> None:
        super().__init__(env)
        self.person_key = person_key
        self.today = today
        self._saved = threading.Condition()
        self.public_decoder = PublicDecoder(self.mapper, STREAM_TYPE_BY_CLASS)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # --- infrastructure helpers --------------------------------------------------------------

    def wait_for_save(self, timeout: float) -> None:
        """Wakes the in-process read-model feed as soon as something was saved."""
        with self._saved:
            self._saved.wait(timeout)

    def _save(self, *aggregates: Aggregate) -> int | None:
        # What `save` does with this application's settings (no snapshots), through `record`.
        recordings = self.record([e for a in aggregates for e in a.collect_events()])
        cache = self.repository.cache
        if cache is not None and not self.repository.fastforward:
            for aggregate in aggregates:  # what `save` does for a cache that is not fast-forwarded
                cache.put(aggregate.id, aggregate)
        elif cache is not None:
            # The state just recorded is the cache's best start for the next command (the
            # library keeps the state read before it), so the next one reads nothing it knows
            # and its hint of what to read with the journey (`_streams_for`) is current. A copy:
            # the caller keeps reading its own.
            # Only streams the cache holds already: what it holds stays as before.
            for aggregate in aggregates:
                if self._cached(aggregate.id) is not None:
                    cache.put(aggregate.id, _copied(aggregate))
        ids = [r.notification.id for r in recordings if r.notification is not None]
        return max(ids) if ids else None

    def record(self, events: Sequence[Any]) -> list[Any]:
        """Record domain events in one transaction (a command's, an import's) and wake the
        in-process feed: the store's own `put`, without `save`'s sorting of aggregates from
        events (a runtime protocol check per object: 6 % of a command's CPU, a third of an
        import's time)."""
        recordings = self.events.put(events)
        with self._saved:
            self._saved.notify_all()
        return recordings

    def context(self, actor: str, source_system: str, correlation_id: str) -> CommandContext:
        return CommandContext(actor, source_system, correlation_id, self.today())

    def _load(self, cls: type[Any], stream_id: UUID, what: str, field: str | None) -> Any:
        try:
            agg: Any = self.repository.get(stream_id)
        except AggregateNotFoundError:
            raise NotFound("not_found", f"unknown {what}", field) from None
        if not isinstance(agg, cls):
            raise NotFound("not_found", f"unknown {what}", field)
        return agg

    def _read(self, stream_ids: Iterable[UUID]) -> dict[UUID, Any]:
        """The current state of several aggregates, read in one query: what `repository.get`
        does one stream at a time (fast-forward the cached aggregate by the events recorded
        since, or fold the stream; hand out a copy). Streams that do not exist are left out.
        Without `select_streams` (SQLite) the streams are read one by one in the order given."""
        in_order = list(dict.fromkeys(stream_ids))
        wanted = sorted(in_order)
        repo, cache = self.repository, self.repository.cache
        select = getattr(self.recorder, "select_streams", None)
        if select is None or cache is None or not repo.fastforward or len(wanted) < 2:
            # One at a time, in the order given (a decision reads the lock first).
            found: dict[UUID, Any] = {}
            for stream_id in in_order:
                try:
                    found[stream_id] = repo.get(stream_id)
                except AggregateNotFoundError:
                    continue
            return found
        return self._fast_forward(wanted, cache, select)

    def _fast_forward(
        self, wanted: list[UUID], cache: Any, select: Callable[..., Any]
    ) -> dict[UUID, Any]:
        """What was recorded since the cached states is read without holding any stream's
        lock: every command reads the shared streams (its provider's, the rates'), and holding
        their locks across the round trip to the database made concurrent commands queue on
        each other's reads. Each state is then brought forward under its stream's lock (the
        repository's own), by the events newer than it, and copied: the result is each stream
        as recorded when it was read (or later), as `repository.get` gives."""
        cached: dict[UUID, Any] = {}
        for stream_id in wanted:
            try:
                cached[stream_id] = cache.get(stream_id)
            except KeyError:
                continue
        base = {i: cached[i].version if i in cached else 0 for i in wanted}
        new: dict[UUID, list[Any]] = {}
        for stored in select(list(base.items())):
            new.setdefault(stored.originator_id, []).append(self.mapper.to_domain_event(stored))
        repo = self.repository
        found: dict[UUID, Any] = {}
        for stream_id in wanted:
            lock = repo._use_fastforward_lock(stream_id)
            try:
                with lock:
                    agg = self._forward(stream_id, cache, cached.get(stream_id), base, new)
            finally:
                repo._disuse_fastforward_lock(stream_id)
            if agg is _REREAD:
                # Replaced meanwhile by an older state (a save's): the events between it and
                # the version read from were not read, so read the stream the library's way.
                try:
                    agg = repo.get(stream_id)
                except AggregateNotFoundError:
                    continue
            if agg is not None:
                found[stream_id] = agg
        return found

    def _forward(
        self,
        stream_id: UUID,
        cache: Any,
        held: Any,
        base: dict[UUID, int],
        new: dict[UUID, list[Any]],
    ) -> Any:
        """Under the stream's lock: its state brought forward by the events read after its
        version in `base`, as a copy; None if the stream does not exist; `_REREAD` if it must
        be read again."""
        try:
            current = cache.get(stream_id)
        except KeyError:
            current = held  # evicted meanwhile: the state read is still the one to go on from
        if current is not None and current.version < base[stream_id]:
            return _REREAD
        events = new.get(stream_id, ())
        if current is not None:
            events = [e for e in events if e.originator_version > current.version]
        agg = project_aggregate(current, events) if events or current is None else current
        if agg is None:
            return None
        if current is None:
            cache.put(stream_id, agg)
        return _copied(agg)

    def _cached(self, stream_id: UUID) -> Any:
        """The cached aggregate itself (no copy, not fast-forwarded), or None: a hint of which
        streams a command will need, never a fact it decides on."""
        cache = self.repository.cache
        if cache is None:
            return None
        try:
            return cache.get(stream_id)
        except KeyError:
            return None

    def journey(self, journey_id: UUID | str, version: int | None = None) -> Journey:
        jid = _uuid(journey_id, "journey_id")
        try:
            agg: Any = self.repository.get(jid, version=version)
        except AggregateNotFoundError:
            raise NotFound("journey_not_found", "unknown journey", "journey_id") from None
        if not isinstance(agg, Journey):
            raise NotFound("journey_not_found", "unknown journey", "journey_id")
        return agg

    def journey_known_at(self, journey_id: UUID | str, known_at: datetime) -> Journey:
        """The journey from the facts recorded at or before `known_at` (auditors' view)."""
        jid = _uuid(journey_id, "journey_id")
        journey: Any = None
        for event in self.events.get(jid):
            assert isinstance(event, Aggregate.Event)
            if event.timestamp > known_at:
                break
            journey = event.mutate(journey)
        if not isinstance(journey, Journey):
            raise NotFound("journey_not_found", "the journey was not known then", "known_at")
        return journey

    def journey_events(self, journey_id: UUID | str) -> list[Fact]:
        self.journey(journey_id)
        return [e for e in self.events.get(_uuid(journey_id, "journey_id")) if isinstance(e, Fact)]

    def provider(self, provider_id: str) -> Provider:
        pid = normalise_org_number(provider_id)
        agg: Provider = self._load(
            Provider, provider_stream_id(pid), f"provider {pid}", "provider_id"
        )
        return agg

    def provider_facts(self, provider_ids: Iterable[str]) -> dict[str, ProviderFacts]:
        """The public model's facts of these providers (what cuts a journey's spans)."""
        return facts_of_providers(self.provider, provider_ids)

    def provider_ids(self) -> list[str]:
        """Every provider ever authorised (read from the log, filtered by event topic)."""
        topic = get_topic(Provider.ProviderAuthorised)
        ids: set[str] = set()
        after = 0
        while True:
            page = self.recorder.select_notifications(
                start=after, limit=1000, topics=[topic], inclusive_of_start=False
            )
            if not page:
                return sorted(ids)
            for n in page:
                event = self.mapper.to_domain_event(n)
                assert isinstance(event, Provider.ProviderAuthorised)
                ids.add(event.provider_id)
            after = page[-1].id

    def rates(self) -> Rates | None:
        try:
            agg: Any = self.repository.get(RATES_STREAM_ID)
        except AggregateNotFoundError:
            return None
        return agg if isinstance(agg, Rates) else None

    def rate_table_on(self, day: date) -> RateTable | None:
        rates = self.rates()
        return rates.in_force(day) if rates else None

    # --- command execution -------------------------------------------------------------------

    def _execute(
        self,
        ctx: CommandContext,
        decide: Callable[[], tuple[list[Aggregate], CommandResult]],
        *,
        idempotency: Idempotency | None = None,
        retry_on_conflict: bool = True,
    ) -> CommandResult:
        """Run `decide` against fresh state and save what it produced in one transaction.

        A concurrent writer that got there first makes the save fail on the stream version; the
        command is then decided again on the new state (unless the caller pinned a version with
        If-Match, which is then stale: 409)."""
        for _ in range(5):
            if idempotency is not None:
                previous = self._idempotent_result(ctx, idempotency)
                if previous is not None:
                    return previous
            aggregates, result = decide()
            if not any(a.pending_events for a in aggregates):
                return result
            if idempotency is not None:
                aggregates.append(
                    IdempotentRequest.record(
                        ctx.actor,
                        idempotency.key,
                        idempotency.fingerprint,
                        result.status,
                        result.resource,
                    )
                )
            try:
                position = self._save(*aggregates)
            except IntegrityError:
                if not retry_on_conflict:
                    raise Conflict(
                        "stale_version", "the journey changed since the version you read"
                    ) from None
                continue
            return CommandResult(
                result.status,
                result.resource,
                position,
                aggregate=result.aggregate,
                providers=result.providers,
            )
        raise Conflict("concurrent_update", "too many concurrent updates; try again")

    def _idempotent_result(self, ctx: CommandContext, idem: Idempotency) -> CommandResult | None:
        try:
            record: Any = self.repository.get(idempotency_stream_id(ctx.actor, idem.key))
        except AggregateNotFoundError:
            return None
        assert isinstance(record, IdempotentRequest)
        if record.fingerprint != idem.fingerprint:
            raise Conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
                "Idempotency-Key",
            )
        return CommandResult(record.status_code, record.resource, None, replayed=True)

    # --- providers and rates -----------------------------------------------------------------

    def authorise_provider(
        self, ctx: CommandContext, idem: Idempotency | None = None, **fields: Any
    ) -> CommandResult:
        def decide() -> tuple[list[Aggregate], CommandResult]:
            pid = normalise_org_number(fields["provider_id"])
            try:
                existing: Any = self.repository.get(provider_stream_id(pid))
            except AggregateNotFoundError:
                existing = None
            if isinstance(existing, Provider):
                if existing.same_authorisation(**fields):
                    return [], CommandResult(200, {"kind": "provider", "provider_id": pid})
                raise Conflict(
                    "provider_exists",
                    f"provider {pid} is already authorised with other details",
                    "provider_id",
                )
            provider = Provider.authorise(ctx, **fields)
            return [provider], CommandResult(201, {"kind": "provider", "provider_id": pid})

        return self._execute(ctx, decide, idempotency=idem)

    def deauthorise_provider(
        self,
        ctx: CommandContext,
        provider_id: str,
        *,
        effective_on: date,
        reason: str,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        def decide() -> tuple[list[Aggregate], CommandResult]:
            provider = self.provider(provider_id)
            provider.deauthorise(ctx, effective_on=effective_on, reason=reason)
            return [provider], CommandResult(
                200, {"kind": "provider", "provider_id": provider.provider_id}
            )

        return self._execute(ctx, decide, idempotency=idem)

    def change_provider_details(
        self,
        ctx: CommandContext,
        provider_id: str,
        *,
        effective_from: date,
        reason: str,
        changes: dict[str, str | None],
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """Name and/or payment account from `effective_from`; `changes` holds only the fields
        to change (None removes an account)."""

        def decide() -> tuple[list[Aggregate], CommandResult]:
            provider = self.provider(provider_id)
            provider.change_details(
                ctx, effective_from=effective_from, reason=reason, changes=changes
            )
            return [provider], CommandResult(
                200, {"kind": "provider", "provider_id": provider.provider_id}
            )

        return self._execute(ctx, decide, idempotency=idem)

    def set_rates(
        self,
        ctx: CommandContext,
        idem: Idempotency | None = None,
        *,
        only_if_none: bool = False,
        **fields: Any,
    ) -> CommandResult:
        def decide() -> tuple[list[Aggregate], CommandResult]:
            existing = self.rates()
            if existing is not None and only_if_none:
                return [], CommandResult(200, {"kind": "rates", "version": existing.version})
            rates = existing or Rates.open()
            rates.set_rates(ctx, **fields)
            return [rates], CommandResult(201, {"kind": "rates", "version": rates.version})

        return self._execute(ctx, decide, idempotency=idem)

    def ensure_default_rates(self) -> bool:
        """Record the shipped default table when no rates exist yet (first start)."""
        if self.rates() is not None:
            return False
        data = default_rates()
        ctx = CommandContext("system:insats", "insats-default-rates", "default-rates", self.today())
        try:
            self.set_rates(
                ctx,
                only_if_none=True,  # several processes may start at once
                effective_from=date.fromisoformat(data["effective_from"]),
                monthly=data["monthly"],
                bonus=data["bonus"],
                voucher_min=data["voucher_min"],
                voucher_max=data["voucher_max"],
                min_days_before_payment=int(data["min_days_before_payment"]),
            )
        except Conflict:
            return False  # another process recorded them first
        return True

    # --- decisions ---------------------------------------------------------------------------

    def register_decision(
        self,
        ctx: CommandContext,
        *,
        external_ref: ExternalRef,
        person_id: str,
        insats: str,
        decided_on: date,
        decided_by: str,
        target_group: str,
        transfer_from: Transfer | None = None,
        counsellor: str | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        person = parse_person_id(person_id, ctx.today)
        if insats not in INSATS_TYPES:
            raise Invalid(
                "invalid_insats", f"insats must be one of {', '.join(INSATS_TYPES)}", "insats"
            )
        if target_group not in TARGET_GROUPS:
            raise Invalid(
                "invalid_target_group",
                f"target_group must be one of {', '.join(TARGET_GROUPS)}",
                "target_group",
            )
        if not external_ref.system or not external_ref.decision_id:
            raise Invalid(
                "invalid_external_ref", "external_ref needs system and decision_id", "external_ref"
            )
        journey_id = journey_id_for(external_ref.system, external_ref.decision_id)
        person_ref = self.person_key.ref(person.number)
        old_id = (
            str(_uuid(transfer_from.journey_id, "transfer_from.journey_id"))
            if transfer_from
            else None
        )

        def decide() -> tuple[list[Aggregate], CommandResult]:
            resource = {"kind": "journey", "journey_id": str(journey_id)}
            # The person's lock before the journey: both are saved in one transaction, so a
            # lock naming this journey means the journey is there to compare with — identical
            # concurrent decisions then all get the one journey, never open_journey_exists.
            lock_id = person_stream_id(person_ref)
            read = self._read([lock_id, journey_id])  # one query, one snapshot
            lock: Any = read.get(lock_id)
            if lock is None:
                lock = PersonJourneys.open_for(person_ref)
            assert isinstance(lock, PersonJourneys)
            existing: Any = read.get(journey_id)
            if isinstance(existing, Journey):
                if existing.same_decision(
                    person_id=person.number,
                    insats=insats,
                    decided_on=decided_on,
                    decided_by=decided_by,
                    target_group=target_group,
                    transfer_from=old_id,
                    counsellor=counsellor,
                ):
                    return [], CommandResult(200, {**resource, "version": existing.version})
                raise Conflict(
                    "duplicate_external_ref",
                    "this external_ref was registered with other content",
                    "external_ref",
                )
            saved: list[Aggregate] = []
            if old_id is not None:
                assert transfer_from is not None
                old = self.journey(old_id)
                if old.person_ref != person_ref:
                    raise Invalid(
                        "transfer_other_person",
                        "the journey transferred from belongs to another person",
                        "transfer_from",
                    )
                if lock.open_journey_id != old_id:
                    raise Conflict(
                        "transfer_not_open",
                        "the journey transferred from is not open",
                        "transfer_from",
                    )
                old.exit(
                    ctx,
                    Exit(transfer_from.exited_on, "other_insats", next_journey_id=str(journey_id)),
                )
                lock.journey_closed(old_id)
                saved.append(old)
            elif lock.open_journey_id is not None:
                raise Conflict(
                    "open_journey_exists",
                    "the person already has an open journey; exit it or transfer from it "
                    f"(journey {lock.open_journey_id})",
                    "person_id",
                )
            journey = Journey.register(
                ctx,
                journey_id=journey_id,
                external_ref=ExternalRef(external_ref.system, external_ref.decision_id),
                person=person,
                person_ref=person_ref,
                insats=insats,
                decided_on=decided_on,
                decided_by=decided_by,
                target_group=target_group,
                transfer_from=old_id,
                counsellor=counsellor,
            )
            lock.journey_opened(str(journey_id))
            return [journey, lock, *saved], CommandResult(
                201, {**resource, "version": 1}, aggregate=journey, providers={}
            )

        return self._execute(ctx, decide, idempotency=idem)

    # --- journey commands (SPEC §3): one use case each ----------------------------------------
    # Each takes `expected_version` (If-Match: refused as stale when the journey moved on) and
    # `idem` (Idempotency-Key). A caller acting for a provider (`ctx.provider_id`) sees only
    # the journeys it holds or held, and records a provider's facts only on one it holds.

    def choose_provider(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        *,
        provider_id: str,
        starts_on: date,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """The customer's provider choice (the insats starts), or later a change of provider."""
        return self._on_journey(
            ctx,
            journey_id,
            lambda j, read: j.choose_provider(
                ctx, provider=read.provider(provider_id), starts_on=starts_on
            ),
            providers=(provider_id,),
            expected_version=expected_version,
            idem=idem,
        )

    def register_plan(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        plan: Plan,
        *,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """The genomförandeplan (a provider's fact)."""
        return self._on_journey(
            ctx,
            journey_id,
            lambda j, read: j.register_plan(ctx, plan),
            provider_fact=True,
            expected_version=expected_version,
            idem=idem,
        )

    def start_internship(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        *,
        employer: str,
        started_on: date,
        share_percent: int,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """A language internship starts (SAI; a provider's fact)."""
        return self._on_journey(
            ctx,
            journey_id,
            lambda j, read: j.start_internship(
                ctx, employer=employer, started_on=started_on, share_percent=share_percent
            ),
            provider_fact=True,
            expected_version=expected_version,
            idem=idem,
        )

    def end_internship(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        *,
        ended_on: date,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """The running language internship ends (a provider's fact)."""
        return self._on_journey(
            ctx,
            journey_id,
            lambda j, read: j.end_internship(ctx, ended_on=ended_on),
            provider_fact=True,
            expected_version=expected_version,
            idem=idem,
        )

    def grant_voucher(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        *,
        amount: str | Decimal,
        purpose: str,
        granted_on: date,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """A tilläggscheck, within the bounds of the rate table in force on `granted_on`."""
        rates = self.rate_table_on(granted_on)

        def act(journey: Journey, _: StreamsRead) -> dict[str, Any]:
            voucher_id = journey.grant_voucher(
                ctx, amount=amount, purpose=purpose, granted_on=granted_on, rates=rates
            )
            return {"voucher_id": voucher_id}

        return self._on_journey(
            ctx, journey_id, act, expected_version=expected_version, idem=idem, status=201
        )

    def exit_journey(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        reported: Exit,
        *,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """The journey ends, with the reason and its details (a provider's fact)."""
        return self._on_journey(
            ctx,
            journey_id,
            lambda j, read: j.exit(ctx, reported._replace(next_journey_id=None)),
            provider_fact=True,
            closes=True,
            expected_version=expected_version,
            idem=idem,
        )

    def record_follow_up(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        *,
        followed_up_on: date,
        outcome: str,
        evidence: Sequence[Evidence] = (),
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """A follow-up after an exit to self-sufficiency; sustained with evidence six months
        on, it is the bonus claim (a provider's fact)."""
        return self._on_journey(
            ctx,
            journey_id,
            lambda j, read: j.record_follow_up(
                ctx, followed_up_on=followed_up_on, outcome=outcome, evidence=evidence
            ),
            provider_fact=True,
            expected_version=expected_version,
            idem=idem,
        )

    def review_bonus_claim(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        *,
        reviewed_on: date,
        decision: str,
        reason: str | None = None,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """The counsellor approves or returns the pending bonus claim."""
        return self._on_journey(
            ctx,
            journey_id,
            lambda j, read: j.review_bonus_claim(
                ctx, reviewed_on=reviewed_on, decision=decision, reason=reason
            ),
            expected_version=expected_version,
            idem=idem,
        )

    def withdraw_decision(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        *,
        withdrawn_on: date,
        reason: str,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """The decision is withdrawn before the insats started."""
        return self._on_journey(
            ctx,
            journey_id,
            lambda j, read: j.withdraw(ctx, withdrawn_on=withdrawn_on, reason=reason),
            closes=True,
            expected_version=expected_version,
            idem=idem,
        )

    def correct_journey(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        *,
        field: str,
        value: Correction,
        reason: str,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
    ) -> CommandResult:
        """An earlier fact corrected (SPEC §4.4): the start, the exit date, the exit, or the
        date of a provider change."""
        return self._on_journey(
            ctx,
            journey_id,
            lambda j, read: j.correct(ctx, what=field, value=value, reason=reason),
            expected_version=expected_version,
            idem=idem,
        )

    def readable_journey(
        self,
        journey_id: UUID | str,
        provider_id: str | None,
        *,
        known_at: datetime | None = None,
    ) -> Journey:
        """The journey as a reader may see it: a provider (`provider_id`) only one it holds or
        held — judged on what is recorded now, also for a view as known at an earlier time."""
        journey = self.journey(journey_id)
        journey.check_scope(provider_id, acting=False)
        if known_at is None:
            return journey
        earlier = self.journey_known_at(journey_id, known_at)
        earlier.check_scope(provider_id, acting=False)
        return earlier

    def _on_journey(
        self,
        ctx: CommandContext,
        journey_id: UUID | str,
        act: Callable[[Journey, StreamsRead], dict[str, Any] | None],
        *,
        provider_fact: bool = False,
        providers: Sequence[str] = (),
        closes: bool = False,
        expected_version: int | None = None,
        idem: Idempotency | None = None,
        status: int = 200,
    ) -> CommandResult:
        """Load the journey, check the caller's provider scope (before anything else, so its
        version and rules reveal nothing), check If-Match, apply `act` (which raises or
        triggers events) and save. When the journey stops being open, the person's lock is
        released in the same transaction.

        What the command will need is read with the journey, in one query: the providers it
        names (`providers`), the journey's providers (the view's facts) and, for a command
        that `closes` the journey, the person's lock — as the cached journey names them; what
        the cache did not know is read when it is needed."""

        def decide() -> tuple[list[Aggregate], CommandResult]:
            jid = _uuid(journey_id, "journey_id")
            read = StreamsRead(self, self._streams_for(jid, providers, closes=closes))
            journey = read.get(jid)
            if not isinstance(journey, Journey):
                raise NotFound("journey_not_found", "unknown journey", "journey_id")
            journey.check_scope(ctx.provider_id, acting=provider_fact)
            if expected_version is not None and journey.version != expected_version:
                raise Conflict(
                    "stale_version",
                    f"the journey is at version {journey.version}, not {expected_version}",
                    "If-Match",
                )
            was_open = journey.is_open
            extra = act(journey, read) or {}
            aggregates: list[Aggregate] = [journey]
            if was_open and not journey.is_open:
                lock = read.get(person_stream_id(journey.person_ref))
                assert isinstance(lock, PersonJourneys)
                lock.journey_closed(str(journey.id))
                aggregates.append(lock)
            resource = {
                "kind": "journey",
                "journey_id": str(journey.id),
                "version": journey.version,
                **extra,
            }
            return aggregates, CommandResult(
                status,
                resource,
                aggregate=journey,
                providers=read.provider_facts(journey.facts.providers_ever),
            )

        return self._execute(
            ctx, decide, idempotency=idem, retry_on_conflict=expected_version is None
        )

    def _streams_for(
        self, journey_id: UUID, providers: Sequence[str], *, closes: bool
    ) -> dict[UUID, Any]:
        """The journey and what a command on it will read, in one query (see `_on_journey`)."""
        ids = [journey_id]
        hint = self._cached(journey_id)
        named = list(providers)
        if isinstance(hint, Journey) and hint.facts.decision is not None:
            named.extend(hint.facts.providers_ever)
            if closes:
                ids.append(person_stream_id(hint.person_ref))
        for pid in named:
            try:
                ids.append(provider_stream_id(normalise_org_number(pid)))
            except Invalid:
                continue  # refused where the command reads it, in the order it did
        return self._read(ids)

    # --- the public log ----------------------------------------------------------------------

    def to_public(
        self, notification: Notification, *, include_person_id: bool = False
    ) -> PublicEvent | None:
        """The public envelope of a stored record; None for internal records (person locks,
        idempotency records, the rates stream's opening)."""
        return self.public_decoder.decode(notification, include_person_id=include_person_id)

    def public_events(
        self, after: int, limit: int, *, include_person_id: bool = False
    ) -> list[PublicEvent]:
        return self.public_page(after, limit, include_person_id=include_person_id)[0]

    def public_page(
        self, after: int, limit: int, *, include_person_id: bool = False
    ) -> tuple[list[PublicEvent], Sequence[Notification | StoredRecord]]:
        """The public events after `after`, and the stored records they were decoded from
        (the Merkle log digests those without reading them again)."""
        notifications = read_records(self.recorder, after, limit, PUBLIC_TOPICS)
        decode = self.public_decoder.decode
        out = []
        for n in notifications:
            e = decode(n, include_person_id=include_person_id)
            if e is not None:
                out.append(e)
        return out, notifications

    def public_stream(self, stream_id: UUID | str) -> list[PublicEvent]:
        """One stream's public events with their log positions (for audit bundles): the
        positions by the events table's key, then each record where the log holds it."""
        wanted = _uuid(stream_id, "journey_id")
        decode = self.public_decoder.decode
        out = []
        for position in stream_positions(self.recorder, wanted):
            for n in self.recorder.select_notifications(
                start=position, limit=1, stop=position, topics=PUBLIC_TOPICS
            ):
                e = decode(n)
                if e is not None and e.stream_id == str(wanted):
                    out.append(e)
        return out

    def record_digests(self, positions: Sequence[int]) -> dict[int, str]:
        """The stored records' digests (public_log.record_digest) at these positions."""
        if not positions:
            return {}
        low, high = min(positions), max(positions)
        notifications = self.recorder.select_notifications(
            start=low, limit=high - low + 1, stop=high, topics=PUBLIC_TOPICS
        )
        wanted = set(positions)
        return {n.id: record_digest(n) for n in notifications if n.id in wanted}

    def iter_public_events(
        self, *, include_person_id: bool = False, batch: int = 1000
    ) -> Iterator[PublicEvent]:
        after = 0
        while True:
            page = self.public_events(after, batch, include_person_id=include_person_id)
            if not page:
                return
            yield from page
            after = page[-1].position

    def max_position(self) -> int:
        """The last position of the whole log (public events and the internal streams: person
        locks, idempotency records)."""
        return int(self.recorder.max_notification_id() or 0)

    def public_head(self) -> int:
        """The position of the last public event: what a read model fed from the public events
        has applied when it is caught up (the log may end with internal records, which no read
        model sees). Looks back from the end in growing windows: internal records come a few at
        a time, so one small indexed range query nearly always answers."""
        high, window = self.max_position(), 64
        while high > 0:
            low = max(high - window, 0)
            found = self.recorder.select_notifications(
                start=low,
                limit=high - low,
                stop=high,
                topics=PUBLIC_TOPICS,
                inclusive_of_start=False,
            )
            if found:
                return int(found[-1].id)
            high, window = low, window * 4
        return 0


def public_event(position: int, event: Fact, *, include_person_id: bool = False) -> PublicEvent:
    """A domain event's public envelope, the definition by the domain objects: the log itself is
    read by `PublicDecoder` (public_log.py), which is tested to give exactly this."""
    return PublicEvent(
        position=position,
        event_id=event_id(event.originator_id, event.originator_version),
        stream_id=str(event.originator_id),
        stream_type=STREAM_TYPE_BY_CLASS[type(event)],
        type=type(event).__name__,
        version=event.originator_version,
        effective_date=event.effective_date.isoformat(),
        recorded_at=event.timestamp.isoformat().replace("+00:00", "Z"),
        actor=event.actor,
        source_system=event.source_system,
        correlation_id=event.correlation_id,
        payload=event.payload(include_person_id=include_person_id),
    )


_IMMUTABLE = (str, int, float, bool, UUID, date, datetime, Decimal, tuple, frozenset, type(None))


def _copied(aggregate: Any) -> Any:
    """A copy of an aggregate that neither shares state with it nor its pending events. Ours
    keep immutable values only (the public model's facts are named tuples; applying an event
    rebinds them), so a shallow copy with a list of its own is one, for a fraction of a deep
    copy's cost; anything else is copied deeply (as `repository.get` copies)."""
    state = vars(aggregate)
    if all(
        isinstance(v, _IMMUTABLE) for k, v in state.items() if k != "_pending_events"
    ) and isinstance(state.get("_pending_events"), list):
        copied = object.__new__(type(aggregate))
        vars(copied).update(state)
        vars(copied)["_pending_events"] = list(state["_pending_events"])
        return copied
    return deepcopy(aggregate)


def _uuid(value: UUID | str, field: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise NotFound("journey_not_found", "unknown journey", field) from None
