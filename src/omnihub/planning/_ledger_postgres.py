"""The usage ledger in PostgreSQL (the scale-out store shared by every worker)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from omnihub.errors import ConfigurationError, StoreError, StoreUnavailableError
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
    id BIGSERIAL PRIMARY KEY,
    tenant TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    kind TEXT NOT NULL,
    model TEXT,
    provider TEXT,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    saved_tokens BIGINT NOT NULL DEFAULT 0,
    saved_cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    goal_id TEXT
);
CREATE INDEX IF NOT EXISTS llm_usage_tenant_at ON llm_usage (tenant, at);
CREATE TABLE IF NOT EXISTS plan_cache_usage (
    entry_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    model TEXT,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL
);
"""

_SUMMARY = """
SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, COALESCE(model, '-') AS m,
       COUNT(*) FILTER (WHERE kind = 'llm_call'), SUM(prompt_tokens), SUM(completion_tokens),
       SUM(cost), COUNT(*) FILTER (WHERE kind = 'cache_hit'), SUM(saved_tokens), SUM(saved_cost)
FROM llm_usage WHERE tenant = %s AND at >= %s
GROUP BY day, m ORDER BY day, m
"""


class PostgresUsageLedger:
    """``llm_usage`` in PostgreSQL through a psycopg connection pool."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - the postgres extra is installed in dev
            raise ConfigurationError(
                "the PostgreSQL ledger needs the postgres extra: pip install 'omnihub[postgres]'"
            ) from exc
        self._psycopg_error: type[Exception] = psycopg.Error
        try:
            self._pool: Any = ConnectionPool(url, min_size=1, max_size=4, open=True, timeout=10)
            with self._pool.connection() as conn:
                conn.execute(_SCHEMA)
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"cannot open the usage ledger: {exc}") from exc

    def record(self, entry: LedgerEntry) -> None:
        try:
            with self._pool.connection() as conn:
                conn.execute(
                    "INSERT INTO llm_usage (tenant, at, kind, model, provider, prompt_tokens,"
                    " completion_tokens, cost, latency_ms, saved_tokens, saved_cost, goal_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        entry.tenant,
                        entry.at.astimezone(UTC),
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
                    ),
                )
        except self._psycopg_error as exc:
            raise StoreError(f"cannot record usage: {exc}") from exc

    def spent_since(self, tenant: str, since: datetime) -> Spend:
        try:
            with self._pool.connection() as conn:
                row = conn.execute(
                    "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0),"
                    " COALESCE(SUM(cost), 0) FROM llm_usage"
                    " WHERE tenant = %s AND kind = 'llm_call' AND at >= %s",
                    (tenant, since.astimezone(UTC)),
                ).fetchone()
        except self._psycopg_error as exc:
            raise StoreError(f"cannot read usage: {exc}") from exc
        return Spend(tokens=int(row[0]), cost=float(row[1]))

    def summary(self, tenant: str, since: datetime | None = None) -> list[UsageRow]:
        start = since.astimezone(UTC) if since is not None else datetime(1970, 1, 1, tzinfo=UTC)
        try:
            with self._pool.connection() as conn:
                rows = conn.execute(_SUMMARY, (tenant, start)).fetchall()
        except self._psycopg_error as exc:
            raise StoreError(f"cannot read usage: {exc}") from exc
        return [usage_row(r) for r in rows]

    def remember_plan_usage(self, entry_id: str, tenant: str, usage: Usage) -> None:
        try:
            with self._pool.connection() as conn:
                conn.execute(
                    "INSERT INTO plan_cache_usage (entry_id, tenant, model, prompt_tokens,"
                    " completion_tokens, cost) VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (entry_id) DO NOTHING",
                    (
                        entry_id,
                        tenant,
                        usage.model,
                        usage.prompt_tokens,
                        usage.completion_tokens,
                        usage.cost,
                    ),
                )
        except self._psycopg_error as exc:
            raise StoreError(f"cannot record usage: {exc}") from exc

    def plan_usage(self, entry_id: str) -> Usage | None:
        try:
            with self._pool.connection() as conn:
                row = conn.execute(
                    "SELECT model, prompt_tokens, completion_tokens, cost FROM plan_cache_usage"
                    " WHERE entry_id = %s",
                    (entry_id,),
                ).fetchone()
        except self._psycopg_error as exc:
            raise StoreError(f"cannot read usage: {exc}") from exc
        return plan_usage_from_row(row)

    def close(self) -> None:
        self._pool.close()
