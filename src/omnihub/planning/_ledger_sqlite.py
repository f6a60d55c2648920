"""The usage ledger in an SQLite file (the embedded default, beside the event store)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from omnihub.config import private_file
from omnihub.errors import StoreError, StoreUnavailableError
from omnihub.planning._ledger import (
    LedgerEntry,
    Spend,
    UsageRow,
    plan_usage_from_row,
    usage_row,
)
from omnihub.planning._types import Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT,
    provider TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    latency_ms REAL NOT NULL DEFAULT 0,
    saved_tokens INTEGER NOT NULL DEFAULT 0,
    saved_cost REAL NOT NULL DEFAULT 0,
    goal_id TEXT
);
CREATE INDEX IF NOT EXISTS llm_usage_tenant_at ON llm_usage (tenant, at);
CREATE TABLE IF NOT EXISTS plan_cache_usage (
    entry_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    model TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL NOT NULL
);
"""

_SUMMARY = """
SELECT substr(at, 1, 10) AS day, COALESCE(model, '-') AS model,
       SUM(kind = 'llm_call'), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost),
       SUM(kind = 'cache_hit'), SUM(saved_tokens), SUM(saved_cost)
FROM llm_usage WHERE tenant = ? AND at >= ?
GROUP BY day, COALESCE(model, '-') ORDER BY day, model
"""


def _stamp(moment: datetime) -> str:
    # One fixed-width UTC format, so text order is time order.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SQLiteUsageLedger:
    """``llm_usage`` in an SQLite database file (WAL, one connection guarded by a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            private_file(self.path)  # 0600, so -wal and -shm are too
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailableError(f"cannot open the usage ledger {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def record(self, entry: LedgerEntry) -> None:
        row = (
            entry.tenant,
            _stamp(entry.at),
            entry.kind,
            entry.model,
            entry.provider,
            entry.prompt_tokens,
            entry.completion_tokens,
            entry.cost,
            entry.latency_ms,
            entry.saved_tokens,
            entry.saved_cost,
            entry.goal_id,
        )
        try:
            with self._lock, self._conn:
                self._conn.execute(
                    "INSERT INTO llm_usage (tenant, at, kind, model, provider, prompt_tokens,"
                    " completion_tokens, cost, latency_ms, saved_tokens, saved_cost, goal_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record usage: {exc}") from exc

    def spent_since(self, tenant: str, since: datetime) -> Spend:
        try:
            with self._lock:
                tokens, cost = self._conn.execute(
                    "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0),"
                    " COALESCE(SUM(cost), 0) FROM llm_usage"
                    " WHERE tenant = ? AND kind = 'llm_call' AND at >= ?",
                    (tenant, _stamp(since)),
                ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read usage: {exc}") from exc
        return Spend(tokens=int(tokens), cost=float(cost))

    def summary(self, tenant: str, since: datetime | None = None) -> list[UsageRow]:
        start = _stamp(since) if since is not None else ""
        try:
            with self._lock:
                rows = self._conn.execute(_SUMMARY, (tenant, start)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read usage: {exc}") from exc
        return [usage_row(r) for r in rows]

    def remember_plan_usage(self, entry_id: str, tenant: str, usage: Usage) -> None:
        row = (
            entry_id,
            tenant,
            usage.model,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cost,
        )
        try:
            with self._lock, self._conn:
                self._conn.execute(
                    "INSERT OR IGNORE INTO plan_cache_usage (entry_id, tenant, model,"
                    " prompt_tokens, completion_tokens, cost) VALUES (?, ?, ?, ?, ?, ?)",
                    row,
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record usage: {exc}") from exc

    def plan_usage(self, entry_id: str) -> Usage | None:
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT model, prompt_tokens, completion_tokens, cost FROM plan_cache_usage"
                    " WHERE entry_id = ?",
                    (entry_id,),
                ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read usage: {exc}") from exc
        return plan_usage_from_row(row)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
