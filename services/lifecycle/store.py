"""Where events and read models live: an SQLite file (embedded default) or PostgreSQL."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from services.platform.db import Database, PostgresDatabase, SQLiteDatabase


@dataclass(frozen=True)
class StoreConfig:
    """`sqlite_file` is the event store file (read models and keys live beside it);
    `postgres_url` a libpq URL/DSN."""

    sqlite_file: Path | None = None
    postgres_url: str | None = None
    schema: str = "public"
    cipher_key: str | None = None

    @property
    def kind(self) -> str:
        return "postgresql" if self.postgres_url else "sqlite"

    def eventsourcing_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.postgres_url:
            params = conninfo_to_dict(self.postgres_url)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_DBNAME=str(params.get("dbname", "postgres")),
                POSTGRES_HOST=str(params.get("host", "127.0.0.1")),
                POSTGRES_PORT=str(params.get("port", "5432")),
                POSTGRES_USER=str(params.get("user", "postgres")),
                POSTGRES_PASSWORD=str(params.get("password", "")),
                POSTGRES_SCHEMA=self.schema,
                POSTGRES_POOL_SIZE="8",
                POSTGRES_MAX_OVERFLOW="8",
                POSTGRES_LOCK_TIMEOUT="5",
                POSTGRES_ENABLE_DB_FUNCTIONS="n",  # SPEC §10: functions collide across apps
            )
        else:
            assert self.sqlite_file is not None
            self.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                SQLITE_DBNAME=str(self.sqlite_file),
                SQLITE_LOCK_TIMEOUT="30",
            )
        if self.cipher_key:
            env.update(
                CIPHER_TOPIC="eventsourcing.cryptography:AESCipher", CIPHER_KEY=self.cipher_key
            )
        return env

    def create_schema(self) -> None:
        if self.postgres_url:
            with psycopg.connect(self.postgres_url, autocommit=True) as conn:
                conn.execute(
                    psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        psycopg.sql.Identifier(self.schema)
                    )
                )

    def readmodel_db(self) -> Database:
        if self.postgres_url:
            return PostgresDatabase(self.postgres_url, schema=self.schema)
        return SQLiteDatabase(self.beside("readmodels.db"))

    def beside(self, suffix: str) -> Path:
        """A file next to the SQLite event store: `var/insats.db` → `var/insats.<suffix>`."""
        assert self.sqlite_file is not None
        return self.sqlite_file.with_name(f"{self.sqlite_file.stem}.{suffix}")

    def person_key(self) -> bytes:
        """INSATS_PERSON_KEY (hex), or for the embedded default a key file made on first start."""
        configured = os.environ.get("INSATS_PERSON_KEY", "").strip()
        if configured:
            return bytes.fromhex(configured)
        if self.postgres_url:
            raise RuntimeError(
                "INSATS_PERSON_KEY (64 hex characters) must be set when using PostgreSQL: "
                "every instance must derive the same person references"
            )
        path = self.beside("person-ref.key")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
            path.chmod(0o600)
        return bytes.fromhex(path.read_text(encoding="utf-8").strip())
