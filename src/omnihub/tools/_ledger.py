"""The idempotency ledger: one row per side effect done, keyed by (tenant, goal, step, kind)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from omnihub.errors import StoreError
from omnihub.tools._sql import SqlCursor, SqlDatabase

LEDGER_TABLE = "omnihub_idempotency"

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    key TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    output TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


def idempotency_key(tenant_id: str, goal_id: str, step_id: str, kind: str = "do") -> str:
    """The key of one step's side effect (``kind="do"``) or its compensation (``"undo"``).

    It depends only on the goal and step, so it is the same on every retry, after a worker
    crash and on workflow replay.
    """
    return f"{tenant_id}/{goal_id}/{step_id}/{kind}"


class IdempotencyLedger:
    """Which side effects already happened, with the output they returned.

    ``record_in`` writes the row inside the caller's transaction, so a database tool's effect
    and its ledger row commit together (exactly once). Other tools call ``lookup`` before and
    ``record`` after acting; a crash between acting and recording leaves a window that they
    narrow by forwarding the key to the receiver.

    Its statements are not ``db.sql`` spans: they are bookkeeping inside the tool call, whose
    span already times them, and at five a step they were most of a goal's spans.
    """

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database
        self._ready = False
        self._lock = threading.Lock()

    def ensure_schema(self) -> None:
        """Create the ledger table once. Two processes creating it at the same moment can
        collide on PostgreSQL's catalog; the loser simply tries again and finds it."""
        if self._ready:
            return
        with self._lock:
            for attempt in range(3):
                try:
                    with self.database.transaction() as cursor:
                        cursor.execute(_CREATE, traced=False)
                    break
                except StoreError:
                    if attempt == 2:
                        raise
            self._ready = True

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The recorded output of ``key``, or None when it has not happened."""
        self.ensure_schema()
        with self.database.transaction() as cursor:
            return self.lookup_in(cursor, key)

    def lookup_in(self, cursor: SqlCursor, key: str) -> dict[str, Any] | None:
        cursor.execute(f"SELECT output FROM {LEDGER_TABLE} WHERE key = ?", (key,), traced=False)
        rows = cursor.fetchall()
        if not rows:
            return None
        output: dict[str, Any] = json.loads(rows[0]["output"])
        return output

    def claim_in(self, cursor: SqlCursor, key: str, tenant_id: str, tool: str) -> bool:
        """Insert a placeholder row for ``key`` in the caller's transaction.

        False when the row exists already (another attempt committed first); on PostgreSQL a
        concurrent claim blocks until the first transaction ends, so only one ever acts.
        """
        self.ensure_schema()
        inserted = cursor.execute(
            f"INSERT INTO {LEDGER_TABLE} (key, tenant_id, tool, output, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            (key, tenant_id, tool, "{}", datetime.now(UTC).isoformat()),
            traced=False,
        )
        return inserted == 1

    def record_in(self, cursor: SqlCursor, key: str, output: dict[str, Any]) -> None:
        """Store the output of a claimed key in the caller's transaction."""
        cursor.execute(
            f"UPDATE {LEDGER_TABLE} SET output = ? WHERE key = ?",
            (json.dumps(output, sort_keys=True), key),
            traced=False,
        )

    def record(self, key: str, tenant_id: str, tool: str, output: dict[str, Any]) -> bool:
        """Record ``key`` as done with ``output``; False when it was recorded already."""
        self.ensure_schema()
        with self.database.transaction() as cursor:
            if not self.claim_in(cursor, key, tenant_id, tool):
                return False
            self.record_in(cursor, key, output)
            return True

    def count(self, prefix: str = "") -> int:
        """How many keys starting with ``prefix`` are recorded."""
        self.ensure_schema()
        with self.database.transaction() as cursor:
            cursor.execute(
                f"SELECT COUNT(*) AS n FROM {LEDGER_TABLE} WHERE key LIKE ? ESCAPE '\\'",
                (_like_prefix(prefix),),
            )
            return int(cursor.fetchall()[0]["n"])


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
