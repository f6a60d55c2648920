"""The usage ledger, written once over the SQL layer of :mod:`omnihub.tools` (``SqlDatabase``).

Both backends run the same statements (``?`` placeholders, which the PostgreSQL backend
rewrites); what differs between them, column types, how a timestamp is stored and how a day
is cut from it, is a :class:`LedgerDialect` in the backend's own module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from omnihub.errors import StoreError, StoreUnavailableError
from omnihub.planning._ledger import LedgerEntry, Spend, UsageRow, plan_usage_from_row, usage_row
from omnihub.planning._types import Usage
from omnihub.tools import SqlDatabase

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LedgerDialect:
    """What one SQL backend spells its own way."""

    #: Column types: ``id`` (an auto-increment key), ``at``, integers and reals.
    id_column: str
    time_type: str
    int_type: str
    real_type: str
    #: The UTC day (``YYYY-MM-DD``) of the ``at`` column.
    day_of_at: str
    #: A moment as the ``at`` column stores it (text order must be time order).
    stamp: Callable[[datetime], Any]

    def schema(self) -> list[str]:
        i, r = self.int_type, self.real_type
        return [
            f"""CREATE TABLE IF NOT EXISTS llm_usage (
                id {self.id_column},
                tenant TEXT NOT NULL,
                at {self.time_type} NOT NULL,
                kind TEXT NOT NULL,
                model TEXT,
                provider TEXT,
                prompt_tokens {i} NOT NULL DEFAULT 0,
                completion_tokens {i} NOT NULL DEFAULT 0,
                cost {r} NOT NULL DEFAULT 0,
                latency_ms {r} NOT NULL DEFAULT 0,
                saved_tokens {i} NOT NULL DEFAULT 0,
                saved_cost {r} NOT NULL DEFAULT 0,
                goal_id TEXT
            )""",
            "CREATE INDEX IF NOT EXISTS llm_usage_tenant_at ON llm_usage (tenant, at)",
            f"""CREATE TABLE IF NOT EXISTS plan_cache_usage (
                entry_id TEXT PRIMARY KEY,
                tenant TEXT NOT NULL,
                model TEXT,
                prompt_tokens {i} NOT NULL,
                completion_tokens {i} NOT NULL,
                cost {r} NOT NULL
            )""",
        ]


_INSERT = (
    "INSERT INTO llm_usage (tenant, at, kind, model, provider, prompt_tokens,"
    " completion_tokens, cost, latency_ms, saved_tokens, saved_cost, goal_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SPENT = (
    "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens,"
    " COALESCE(SUM(cost), 0) AS cost FROM llm_usage"
    " WHERE tenant = ? AND kind = 'llm_call' AND at >= ?"
)
# Every column is named (the SQL layer returns rows as dicts) and "m", not "model": PostgreSQL
# resolves GROUP BY names to input columns before output ones.
_SUMMARY = """
SELECT {day} AS day, COALESCE(model, '-') AS m,
       SUM(CASE WHEN kind = 'llm_call' THEN 1 ELSE 0 END) AS calls,
       SUM(prompt_tokens) AS prompt, SUM(completion_tokens) AS completion, SUM(cost) AS spent,
       SUM(CASE WHEN kind = 'cache_hit' THEN 1 ELSE 0 END) AS hits,
       SUM(saved_tokens) AS saved, SUM(saved_cost) AS saved_spend
FROM llm_usage WHERE tenant = ? AND at >= ?
GROUP BY day, m ORDER BY day, m
"""
_REMEMBER = (
    "INSERT INTO plan_cache_usage (entry_id, tenant, model, prompt_tokens, completion_tokens,"
    " cost) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (entry_id) DO NOTHING"
)
_PLAN_USAGE = (
    "SELECT model, prompt_tokens, completion_tokens, cost FROM plan_cache_usage WHERE entry_id = ?"
)


class SqlUsageLedger:
    """``llm_usage`` and ``plan_cache_usage`` in a :class:`~omnihub.tools.SqlDatabase`."""

    def __init__(self, database: SqlDatabase, dialect: LedgerDialect, *, where: str) -> None:
        self._db = database
        self._dialect = dialect
        self._closed = False
        try:
            with database.transaction() as cursor:
                if database.dialect == "postgresql":
                    # Workers and APIs starting together would race on PostgreSQL's catalog
                    # (CREATE TABLE IF NOT EXISTS is not atomic): one at a time.
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('omnihub_usage_ledger'))")
                for statement in dialect.schema():
                    cursor.execute(statement)
        except StoreError as exc:
            database.close()
            raise StoreUnavailableError(f"cannot open the usage ledger {where}: {exc}") from exc

    def _run(self, sql: str, params: tuple[Any, ...], *, query: bool) -> list[list[Any]]:
        """Run one statement in its own transaction; a query's rows, in column order."""
        what = "read usage" if query else "record usage"
        if self._closed:
            raise StoreError(f"cannot {what}: the usage ledger is closed")
        try:
            with self._db.transaction() as cursor:
                cursor.execute(sql, params)
                return [list(row.values()) for row in cursor.fetchall()] if query else []
        except StoreError as exc:
            error = StoreUnavailableError if isinstance(exc, StoreUnavailableError) else StoreError
            raise error(f"cannot {what}: {exc}") from exc

    def record(self, entry: LedgerEntry) -> None:
        e = entry
        params = (e.tenant, self._dialect.stamp(e.at), e.kind, e.model, e.provider,
                  e.prompt_tokens, e.completion_tokens, e.cost, e.latency_ms, e.saved_tokens,
                  e.saved_cost, e.goal_id)  # fmt: skip
        self._run(_INSERT, params, query=False)

    def spent_since(self, tenant: str, since: datetime) -> Spend:
        rows = self._run(_SPENT, (tenant, self._dialect.stamp(since)), query=True)
        tokens, cost = rows[0]
        return Spend(tokens=int(tokens), cost=float(cost))

    def summary(self, tenant: str, since: datetime | None = None) -> list[UsageRow]:
        sql = _SUMMARY.format(day=self._dialect.day_of_at)
        start = self._dialect.stamp(since or _EPOCH)
        return [usage_row(r) for r in self._run(sql, (tenant, start), query=True)]

    def remember_plan_usage(self, entry_id: str, tenant: str, usage: Usage) -> None:
        u = usage
        params = (entry_id, tenant, u.model, u.prompt_tokens, u.completion_tokens, u.cost)
        self._run(_REMEMBER, params, query=False)

    def plan_usage(self, entry_id: str) -> Usage | None:
        rows = self._run(_PLAN_USAGE, (entry_id,), query=True)
        return plan_usage_from_row(rows[0] if rows else None)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()
