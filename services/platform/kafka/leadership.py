"""One active relay per store.

PostgreSQL: a session-level advisory lock on a connection of the relay's own. The lock lives as
long as that connection, so a relay that dies (kill -9, a lost node) releases it when the server
notices the connection is gone, and a waiting relay takes over. The holder checks its connection
before every batch: a relay whose connection broke may no longer hold the lock and stops
publishing until it holds it again.

SQLite (the embedded default, one machine): an exclusive `flock` on a file beside the store. The
kernel releases it when the process dies, whichever way.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO, Protocol

import psycopg

log = logging.getLogger(__name__)


class Leadership(Protocol):
    def acquire(self) -> bool:
        """True while this instance holds (or has just taken) leadership; never blocks long."""
        ...

    def release(self) -> None: ...


class PostgresLeadership:
    def __init__(self, url: str, key: str, connect_kwargs: dict[str, object] | None = None):
        self.url = url
        self.key = key
        self._connect_kwargs = connect_kwargs or {}
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._held = False

    def acquire(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._held = False
                self._conn = psycopg.connect(
                    self.url,
                    autocommit=True,
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                    **self._connect_kwargs,  # type: ignore[arg-type]
                )
            if self._held:
                self._conn.execute("SELECT 1")  # still connected: still the holder
                return True
            row = self._conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (self.key,)
            ).fetchone()
            self._held = bool(row and row[0])
            if self._held:
                log.info("kafka relay: leadership taken (%s)", self.key)
            return self._held
        except psycopg.Error as exc:
            if self._held:
                log.warning("kafka relay: lost the leadership connection (%s)", exc)
            self._held = False
            self._close()
            return False

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def release(self) -> None:
        self._held = False
        self._close()  # closing the session releases its advisory locks


class FileLeadership:
    def __init__(self, path: Path):
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "ab")  # noqa: SIM115 - held open for as long as we lead
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        log.info("kafka relay: leadership taken (%s, pid %s)", self.path, os.getpid())
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the lock
            self._file = None
