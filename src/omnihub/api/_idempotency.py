"""Idempotency keys for goal submission, in the API's SQLite file.

``claim`` binds (tenant, key) to a goal id and a hash of the request in one INSERT, so two
concurrent retries get the same goal id and only that goal is started (the goal service's
``submit`` is itself idempotent per goal id, which covers a crash between claim and start).
Reusing a key with a different body is refused with 409 Conflict (the IETF Idempotency-Key
draft suggests 422; 409 says better that the request itself is fine but clashes with state).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from omnihub.auth._storage import connect_sqlite
from omnihub.errors import StoreError, ValidationError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    tenant_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    goal_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
)
"""


class IdempotencyKeyReusedError(ValidationError):
    """An Idempotency-Key already used for a different request body."""


def request_hash(body: dict[str, Any]) -> str:
    """A stable hash of a JSON request body (sorted keys, compact separators)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    """(tenant, Idempotency-Key) → goal id, kept for ``ttl`` (24 h by default)."""

    def __init__(self, path: Path, ttl: timedelta = timedelta(hours=24)) -> None:
        self.ttl = ttl
        self._conn = connect_sqlite(path, _SCHEMA, "idempotency store")
        self._lock = threading.Lock()

    def claim(self, tenant_id: str, key: str, body_hash: str, new_goal_id: str) -> tuple[str, bool]:
        """The goal id for this key and whether it is new (``new_goal_id`` was bound to it)."""
        now = datetime.now(UTC)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.execute(
                        "DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? "
                        "AND created_at < ?",
                        (tenant_id, key, (now - self.ttl).isoformat()),
                    )
                    row = self._conn.execute(
                        "SELECT request_hash, goal_id FROM idempotency_keys "
                        "WHERE tenant_id = ? AND key = ?",
                        (tenant_id, key),
                    ).fetchone()
                    if row is None:
                        self._conn.execute(
                            "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, ?)",
                            (tenant_id, key, body_hash, new_goal_id, now.isoformat()),
                        )
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"idempotency store failed: {exc}") from exc
        if row is None:
            return new_goal_id, True
        if row[0] != body_hash:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was already used with a different request body"
            )
        return str(row[1]), False

    def close(self) -> None:
        with self._lock:
            self._conn.close()
