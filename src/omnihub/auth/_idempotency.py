"""Idempotency-Key records for goal submission, in SQLite or PostgreSQL.

``claim`` binds (tenant, key) to a goal id and a hash of the request in one atomic statement
(``INSERT … ON CONFLICT DO UPDATE … WHERE expired … RETURNING``, the same SQL on both
databases), so concurrent retries, even through different API processes sharing PostgreSQL,
get the same goal id and only that goal is started (the goal service's ``submit`` is itself
idempotent per goal id, which covers a crash between claim and start). A later claim reads
the recorded goal id back. Reusing a key with a different body is refused with 409 Conflict
(the IETF Idempotency-Key draft suggests 422; 409 says better that the request itself is fine
but clashes with state).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from omnihub.auth._storage import PostgresRunner, SQLiteRunner, SqlRunner
from omnihub.config import parse_backend_url
from omnihub.errors import ValidationError

DEFAULT_TTL = timedelta(hours=24)

# {table} differs per backend; SQLite keeps the table name of earlier versions.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    tenant_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    goal_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
"""


class IdempotencyKeyReusedError(ValidationError):
    """An Idempotency-Key already used for a different request body."""


def request_hash(body: dict[str, Any]) -> str:
    """A stable hash of a JSON request body (sorted keys, compact separators)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore(Protocol):
    """(tenant, Idempotency-Key) → goal id. Built by :func:`open_idempotency_store`."""

    def claim(self, tenant_id: str, key: str, body_hash: str, new_goal_id: str) -> tuple[str, bool]:
        """The goal id for this key and whether it is new (``new_goal_id`` was bound to it);
        IdempotencyKeyReusedError when the key was used with another body."""
        ...

    def ping(self) -> None:
        """Raise StoreError when the store cannot be read."""
        ...

    def close(self) -> None: ...


class SqlIdempotencyStore:
    """The idempotency store written once over an :class:`SqlRunner`; records live ``ttl``."""

    def __init__(self, runner: SqlRunner, *, table: str, ttl: timedelta = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._runner = runner
        self._table = table

    def claim(self, tenant_id: str, key: str, body_hash: str, new_goal_id: str) -> tuple[str, bool]:
        now = datetime.now(UTC)
        # Times are fixed-width UTC ISO strings, so text order is time order.
        claimed = self._runner.query(
            f"INSERT INTO {self._table} (tenant_id, key, request_hash, goal_id, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, key) DO UPDATE SET "
            "request_hash = excluded.request_hash, goal_id = excluded.goal_id, "
            f"created_at = excluded.created_at WHERE {self._table}.created_at < ? "
            "RETURNING goal_id",
            (tenant_id, key, body_hash, new_goal_id, now.isoformat(), (now - self.ttl).isoformat()),
        )
        if claimed:
            return new_goal_id, True
        rows = self._runner.query(
            f"SELECT request_hash, goal_id FROM {self._table} WHERE tenant_id = ? AND key = ?",
            (tenant_id, key),
        )
        if not rows:  # pragma: no cover - records are never deleted, only replaced
            return self.claim(tenant_id, key, body_hash, new_goal_id)
        if rows[0][0] != body_hash:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was already used with a different request body"
            )
        return str(rows[0][1]), False

    def ping(self) -> None:
        self._runner.query(f"SELECT 1 FROM {self._table} LIMIT 1")

    def close(self) -> None:
        self._runner.close()


class SQLiteIdempotencyStore(SqlIdempotencyStore):
    """Idempotency records in an SQLite file (by default the API key store's ``api.db``)."""

    def __init__(self, path: Path, ttl: timedelta = DEFAULT_TTL) -> None:
        schema = _SCHEMA.format(table="idempotency_keys")
        runner = SQLiteRunner(path, schema, "idempotency store")
        super().__init__(runner, table="idempotency_keys", ttl=ttl)


class PostgresIdempotencyStore(SqlIdempotencyStore):
    """Idempotency records in PostgreSQL's ``omnihub_api_idempotency`` table, shared by every
    API process."""

    def __init__(self, url: str, ttl: timedelta = DEFAULT_TTL) -> None:
        schema = _SCHEMA.format(table="omnihub_api_idempotency")
        runner = PostgresRunner(url, schema, "idempotency store")
        super().__init__(runner, table="omnihub_api_idempotency", ttl=ttl)


def open_idempotency_store(url: str, *, ttl: timedelta = DEFAULT_TTL) -> IdempotencyStore:
    """The idempotency store ``url`` names: ``sqlite:///PATH`` or ``postgresql://…``."""
    backend = parse_backend_url(
        url, allowed=("sqlite", "postgresql"), purpose="idempotency store URL"
    )
    if backend.path is not None:
        return SQLiteIdempotencyStore(backend.path, ttl=ttl)
    return PostgresIdempotencyStore(url, ttl=ttl)
