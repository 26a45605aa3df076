"""One open journey per person, enforced atomically.

Each person has a small internal stream (keyed by the person's pseudonym) that names their open
journey. A decision saves the new journey and this stream in one transaction; two concurrent
decisions for one person both try to write the same next version of this stream and only one
can succeed (optimistic concurrency in the event store)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from services.lifecycle.domain.base import Event, stable_id


def person_stream_id(person_ref: str) -> UUID:
    return stable_id("person", person_ref)


class PersonJourneys(Aggregate):
    class Opened(Aggregate.Created):
        person_ref: str

    class JourneyOpened(Event):
        journey_id: str

    class JourneyClosed(Event):
        journey_id: str

    def __init__(self, person_ref: str) -> None:
        self.person_ref = person_ref
        self.open_journey_id: str | None = None

    def when(self, event: Event) -> None:
        match event:
            case PersonJourneys.JourneyOpened():
                self.open_journey_id = event.journey_id
            case PersonJourneys.JourneyClosed():
                self.open_journey_id = None

    @classmethod
    def open_for(cls, person_ref: str) -> PersonJourneys:
        return cls._create(cls.Opened, id=person_stream_id(person_ref), person_ref=person_ref)

    def journey_opened(self, journey_id: str) -> None:
        self.trigger_event(self.JourneyOpened, journey_id=journey_id)

    def journey_closed(self, journey_id: str) -> None:
        if self.open_journey_id == journey_id:
            self.trigger_event(self.JourneyClosed, journey_id=journey_id)
