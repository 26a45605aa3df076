"""The lifecycle event store as a source for the read-model feed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import psycopg

from contracts.events import PublicEvent
from services.lifecycle.application import LifecycleApp
from services.lifecycle.public_log import record_digest
from services.platform.db import PgTimeouts

log = logging.getLogger(__name__)


class StoreEventSource:
    """Reads public events from the store's ordered log.

    In one process a save wakes the feed at once. On PostgreSQL, writes from other processes are
    announced by the recorder's NOTIFY; a lost notification only delays the feed until the next
    timed poll (SPEC §10), it never loses an event, because positions are read from the log."""

    def __init__(
        self,
        app: LifecycleApp,
        postgres_url: str | None = None,
        channel: str = "",
        timeouts: PgTimeouts | None = None,
    ):
        self.app = app
        self._postgres_url = postgres_url
        self._channel = channel
        self._timeouts = timeouts or PgTimeouts()
        self._notified = threading.Event()
        self._listening = threading.Event()
        self._listener: threading.Thread | None = None
        self._listener_lock = threading.Lock()
        self._stopping = threading.Event()
        self._page = threading.local()  # the stored records of the page this thread last read

    def read(self, after: int, limit: int) -> Sequence[PublicEvent]:
        events, records = self.app.public_page(after, limit)
        self._page.records = records
        return events

    def record_digests(self, positions: Sequence[int]) -> dict[int, str]:
        """The stored records' digests at these positions (for the Merkle log's leaves): from
        the page this thread just read when it holds them all (a feed reads a page, then
        hands it to the Merkle log), else read again."""
        records = getattr(self._page, "records", None)
        if records:
            by_position = {n.id: n for n in records}
            if all(p in by_position for p in positions):
                return {p: record_digest(by_position[p]) for p in positions}
        return self.app.record_digests(positions)

    def max_position(self) -> int:
        # The last public event: the head a caught-up read model stands at.
        return self.app.public_head()

    def wait_for_new(self, timeout: float) -> None:
        if not (self._postgres_url and self._channel):
            self.app.wait_for_save(timeout)
        elif self._start_listener():
            # What was saved before it listened is in the log: the caller reads it next.
            self._listening.wait(timeout)
        else:
            self._notified.wait(timeout)
            self._notified.clear()

    def _start_listener(self) -> bool:
        """Listens from the first wait on (a process that runs no feed, such as an API
        instance beside `insats worker`, is not woken by every save); True if it started now."""
        with self._listener_lock:
            if self._listener is not None:
                return False
            self._listener = threading.Thread(target=self._listen, name="pg-listen", daemon=True)
            self._listener.start()
            return True

    def _listen(self) -> None:
        assert self._postgres_url is not None
        # The connection idles for hours: TCP keepalives notice a server that vanished without
        # closing it (a network partition), so the thread reconnects instead of listening to
        # nothing. A reconnect attempt is bounded by the connect timeout.
        kwargs = {
            **self._timeouts.connect_kwargs(),
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._postgres_url, autocommit=True, **kwargs) as conn:
                    conn.execute(
                        psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self._channel))
                    )
                    self._listening.set()
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._notified.set()
            except psycopg.Error:
                log.warning("LISTEN connection lost; relying on polling until it is back")
                self._stopping.wait(1.0)

    def close(self) -> None:
        self._stopping.set()
