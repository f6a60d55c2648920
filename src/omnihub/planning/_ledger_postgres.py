"""The usage ledger in PostgreSQL (the scale-out store shared by every worker)."""

from __future__ import annotations

from datetime import UTC, datetime

from omnihub.planning._ledger_sql import LedgerDialect, SqlUsageLedger
from omnihub.tools import PostgresDatabase


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


POSTGRES_LEDGER = LedgerDialect(
    id_column="BIGSERIAL PRIMARY KEY",
    time_type="TIMESTAMPTZ",
    int_type="BIGINT",
    real_type="DOUBLE PRECISION",
    day_of_at="to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    stamp=_utc,
)


class PostgresUsageLedger(SqlUsageLedger):
    """The ledger in PostgreSQL, through a small psycopg connection pool."""

    def __init__(self, url: str) -> None:
        super().__init__(PostgresDatabase(url, max_size=4), POSTGRES_LEDGER, where="(PostgreSQL)")
