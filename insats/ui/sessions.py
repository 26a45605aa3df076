"""Web sessions: who is signed in to the pages, for how long, and their CSRF token.

Signing in with an API key (API.md "Web pages") creates a session row in the service database
(the read-model database every instance shares, so any instance answers any request and a
sign-out is seen everywhere). The browser holds only a random session id in an HttpOnly,
SameSite=Strict cookie; the table holds the id's SHA-256, never the id itself, and the API key's
SHA-256, never the key. Each request re-checks that key in the keys file: removing a key ends
its sessions at once. A session ends at sign-out, after `idle` without a request, or `lifetime`
after sign-in, whichever comes first.

The table is not a read model: no event feeds it, `insats readmodels rebuild` and
`insats audit verify` leave it alone.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass

from services.platform.auth import KeyStore, Principal
from services.platform.db import Database

COOKIE = "insats_session"
LOGIN_COOKIE = "insats_login"  # the sign-in form's own CSRF nonce (before there is a session)

DEFAULT_IDLE_MINUTES = 30
DEFAULT_LIFETIME_MINUTES = 8 * 60
TOUCH_AFTER_SECONDS = 60  # last-seen is written at most once a minute per session

_DDL = (
    "CREATE TABLE IF NOT EXISTS ui_sessions ("
    " session_sha256 TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL, role TEXT NOT NULL,"
    " provider_id TEXT, name TEXT NOT NULL, csrf TEXT NOT NULL, created_at BIGINT NOT NULL,"
    " seen_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)"
)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _minutes(name: str, default: int) -> int:
    text = (os.environ.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{name} must be a whole number of minutes, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class SessionSettings:
    idle_seconds: int = DEFAULT_IDLE_MINUTES * 60
    lifetime_seconds: int = DEFAULT_LIFETIME_MINUTES * 60
    secure_cookies: bool = False  # also set when the request came over https

    @classmethod
    def from_env(cls) -> SessionSettings:
        return cls(
            idle_seconds=_minutes("INSATS_UI_SESSION_IDLE_MINUTES", DEFAULT_IDLE_MINUTES) * 60,
            lifetime_seconds=_minutes("INSATS_UI_SESSION_MINUTES", DEFAULT_LIFETIME_MINUTES) * 60,
            secure_cookies=(os.environ.get("INSATS_UI_SECURE_COOKIES") or "").lower()
            in ("1", "true", "yes"),
        )


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str
    expires_at: int

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


class Sessions:
    def __init__(
        self, db: Database, keys: KeyStore, settings: SessionSettings | None = None
    ) -> None:
        self.db = db
        self.keys = keys
        self.settings = settings or SessionSettings.from_env()
        with db.transaction() as tx:
            tx.execute(_DDL)

    def create(self, token: str) -> tuple[str, Session] | None:
        """A new session for the API key `token`; None for an unknown key."""
        principal = self.keys.authenticate(token)
        if principal is None:
            return None
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = int(time.time())
        expires = now + self.settings.lifetime_seconds
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM ui_sessions WHERE expires_at <= %s OR seen_at <= %s",
                (now, now - self.settings.idle_seconds),
            )
            tx.execute(
                "INSERT INTO ui_sessions (session_sha256, token_sha256, role, provider_id, name,"
                " csrf, created_at, seen_at, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    _sha256(session_id),
                    _sha256(token),
                    principal.role,
                    principal.provider_id,
                    principal.name,
                    csrf,
                    now,
                    now,
                    expires,
                ),
            )
        return session_id, Session(principal, csrf, expires)

    def get(self, session_id: str | None) -> Session | None:
        """The live session for a cookie's id, or None (unknown, expired, idle, key removed)."""
        if not session_id or len(session_id) > 100:
            return None
        key = _sha256(session_id)
        now = int(time.time())
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT token_sha256, role, provider_id, name, csrf, seen_at, expires_at"
                " FROM ui_sessions WHERE session_sha256 = %s",
                (key,),
            ).fetchone()
            if row is None:
                return None
            token_sha256, role, provider_id, name, csrf, seen_at, expires_at = row
            if int(expires_at) <= now or int(seen_at) <= now - self.settings.idle_seconds:
                tx.execute("DELETE FROM ui_sessions WHERE session_sha256 = %s", (key,))
                return None
            if now - int(seen_at) >= TOUCH_AFTER_SECONDS:
                tx.execute(
                    "UPDATE ui_sessions SET seen_at = %s WHERE session_sha256 = %s", (now, key)
                )
        # The key must still exist with the same role and scope (a removed key ends it).
        current = self.keys.principal_for(token_sha256)
        if current is None or (current.role, current.provider_id) != (role, provider_id):
            self.end(session_id)
            return None
        return Session(
            Principal(role=role, name=name, provider_id=provider_id), csrf, int(expires_at)
        )

    def end(self, session_id: str | None) -> None:
        if not session_id or len(session_id) > 100:
            return
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM ui_sessions WHERE session_sha256 = %s", (_sha256(session_id),))
