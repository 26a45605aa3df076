"""Who is calling: API keys with roles (API.md "Roles").

Keys live in a JSON file (`INSATS_API_KEYS_FILE`) holding only SHA-256 hashes of the tokens:
`{"keys": [{"token_sha256": "<hex>", "role": "<role>", "provider_id": "<org no>", "name": "..."}]}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["admin", "publisher", "counsellor", "provider", "clerk", "auditor"]
ROLES: tuple[str, ...] = ("admin", "publisher", "counsellor", "provider", "clerk", "auditor")

# Roles that may see person_id (API.md "Privacy").
SEES_PERSON_ID: frozenset[str] = frozenset({"admin", "publisher", "counsellor", "auditor"})


@dataclass(frozen=True)
class Principal:
    role: str
    name: str
    provider_id: str | None = None

    @property
    def actor(self) -> str:
        """How this caller is named in event metadata."""
        if self.role == "provider":
            return f"provider:{self.provider_id}:{self.name}"
        return f"{self.role}:{self.name}"

    @property
    def sees_person_id(self) -> bool:
        return self.role in SEES_PERSON_ID


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KeyStore:
    """Reads the keys file; re-reads it when it changes on disk (keys added while serving)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._keys: dict[str, Principal] = {}

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._keys, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        data = json.loads(self.path.read_text(encoding="utf-8"))
        keys: dict[str, Principal] = {}
        for entry in data.get("keys", []):
            role = entry["role"]
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r} in {self.path}")
            keys[entry["token_sha256"].lower()] = Principal(
                role=role, name=entry.get("name", role), provider_id=entry.get("provider_id")
            )
        self._keys, self._mtime = keys, mtime

    def authenticate(self, token: str) -> Principal | None:
        digest = hash_token(token)
        with self._lock:
            self._load()
            for known, principal in self._keys.items():
                if hmac.compare_digest(known, digest):
                    return principal
        return None

    def add(self, role: str, name: str, provider_id: str | None = None) -> str:
        """Create a key, store its hash and return the token (shown once)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if (role == "provider") != (provider_id is not None):
            raise ValueError("--provider-id is required for, and only for, role provider")
        token = secrets.token_urlsafe(32)
        with self._lock:
            data = (
                json.loads(self.path.read_text(encoding="utf-8"))
                if self.path.exists()
                else {"keys": []}
            )
            entry: dict[str, str] = {"token_sha256": hash_token(token), "role": role, "name": name}
            if provider_id is not None:
                entry["provider_id"] = provider_id
            data["keys"].append(entry)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            os.chmod(tmp, 0o600)
            tmp.replace(self.path)
            self._mtime = None
        return token
