"""Who is calling: API keys with roles (API.md "Roles").

Keys live in a JSON file (`INSATS_API_KEYS_FILE`) holding only SHA-256 hashes of the tokens:
`{"keys": [{"token_sha256": "<hex>", "role": "<role>", "provider_id": "<org no>", "name": "..."}]}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.permissions import ROLES, SEES_PERSON_ID

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


KEY_ID_LENGTH = 12


@dataclass(frozen=True)
class ListedKey:
    key_id: str
    role: str
    name: str
    provider_id: str | None


class KeysFileError(ValueError):
    """The keys file cannot be read as API.md describes it; the message says where and why."""


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


def parse_keys(text: str, where: str) -> dict[str, Principal]:
    """The keys of a keys file by token hash; KeysFileError naming the entry at fault."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeysFileError(f"{where}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeysFileError(f'{where}: expected {{"keys": [...]}}')
    keys: dict[str, Principal] = {}
    for i, entry in enumerate(data["keys"]):
        at = f"{where}: keys[{i}]"
        if not isinstance(entry, dict):
            raise KeysFileError(f"{at} is not an object")
        digest, role = entry.get("token_sha256"), entry.get("role")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise KeysFileError(f"{at}: token_sha256 must be 64 hex characters")
        if role not in ROLES:
            raise KeysFileError(f"{at}: role must be one of {', '.join(ROLES)}, got {role!r}")
        provider_id, name = entry.get("provider_id"), entry.get("name", role)
        if (role == "provider") != isinstance(provider_id, str):
            raise KeysFileError(f"{at}: provider_id is required for, and only for, role provider")
        if not isinstance(name, str):
            raise KeysFileError(f"{at}: name must be a string")
        keys[digest.lower()] = Principal(role=role, name=name, provider_id=provider_id)
    return keys


class KeyStore:
    """Reads the keys file; re-reads it when it changes on disk (keys added while serving).

    `check()` at start refuses a file that cannot be read (the server does not start). A file
    that becomes unreadable while serving is logged and the keys read before stay in force:
    one bad edit must not lock everyone out, nor turn every request into an error."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._keys: dict[str, Principal] = {}

    def check(self) -> int:
        """Read the file now; KeysFileError if it is malformed. Returns how many keys."""
        with self._lock:
            self._mtime = None
            self._load(strict=True)
            return len(self._keys)

    def _load(self, *, strict: bool = False) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._keys, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        try:
            keys = parse_keys(self.path.read_text(encoding="utf-8"), str(self.path))
        except (KeysFileError, OSError, UnicodeDecodeError) as exc:
            if strict:
                raise KeysFileError(str(exc)) from None
            self._mtime = mtime  # say it once per change of the file
            log.error("API keys file unreadable; the keys read before stay in force: %s", exc)
            return
        self._keys, self._mtime = keys, mtime

    def authenticate(self, token: str) -> Principal | None:
        digest = hash_token(token)
        with self._lock:
            self._load()
            for known, principal in self._keys.items():
                if hmac.compare_digest(known, digest):
                    return principal
        return None

    def principal_for(self, token_sha256: str) -> Principal | None:
        """The key whose token has this SHA-256 (hex), if it is still in the file: a web
        session (insats.ui) holds only the hash and re-checks its key on every request."""
        with self._lock:
            self._load()
            return self._keys.get(token_sha256.lower())

    def listed(self) -> list[ListedKey]:
        """Every key in the file, without secrets: a short id (the start of the token's
        SHA-256, which reveals nothing of the token), role, name and provider."""
        with self._lock:
            self._mtime = None
            self._load(strict=True)
            return [
                ListedKey(digest[:KEY_ID_LENGTH], p.role, p.name, p.provider_id)
                for digest, p in self._keys.items()
            ]

    def revoke(self, key_id: str) -> ListedKey:
        """Remove the key whose id (as `listed` shows it, or a longer prefix of the hash) is
        `key_id`; KeyError if none or several match. Effective at once: every instance re-reads
        the file, and a web session signed in with the key ends on its next request."""
        wanted = key_id.strip().lower()
        if len(wanted) < KEY_ID_LENGTH:
            raise KeyError(f"a key id has at least {KEY_ID_LENGTH} characters (see keys list)")
        with self._lock:
            data = self._read_for_change()
            matches = [e for e in data["keys"] if str(e["token_sha256"]).lower().startswith(wanted)]
            if len(matches) != 1:
                raise KeyError(
                    f"no key with id {key_id}" if not matches else f"several keys match {key_id}"
                )
            entry = matches[0]
            data["keys"] = [e for e in data["keys"] if e is not entry]
            self._write(data)
        return ListedKey(
            wanted[:KEY_ID_LENGTH],
            str(entry["role"]),
            str(entry.get("name", entry["role"])),
            entry.get("provider_id"),
        )

    def _read_for_change(self) -> dict[str, Any]:
        data: dict[str, Any] = (
            json.loads(self.path.read_text(encoding="utf-8"))
            if self.path.exists()
            else {"keys": []}
        )
        parse_keys(json.dumps(data), str(self.path))  # never change a malformed file
        return data

    def _write(self, data: dict[str, Any]) -> None:
        # Atomically, readable by the owner only: a reader sees the old file or the new one.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)
        self._mtime = None

    def add(self, role: str, name: str, provider_id: str | None = None) -> str:
        """Create a key, store its hash and return the token (shown once)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if (role == "provider") != (provider_id is not None):
            raise ValueError("--provider-id is required for, and only for, role provider")
        token = secrets.token_urlsafe(32)
        with self._lock:
            data = self._read_for_change()
            entry: dict[str, str] = {"token_sha256": hash_token(token), "role": role, "name": name}
            if provider_id is not None:
                entry["provider_id"] = provider_id
            data["keys"].append(entry)
            self._write(data)
        return token
