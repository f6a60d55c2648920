"""The usage ledger in an SQLite file (the embedded default, beside the event store)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from omnihub.planning._ledger_sql import LedgerDialect, SqlUsageLedger
from omnihub.tools import SQLiteDatabase


def _stamp(moment: datetime) -> str:
    # One fixed-width UTC format, so text order is time order.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


SQLITE_LEDGER = LedgerDialect(
    id_column="INTEGER PRIMARY KEY AUTOINCREMENT",
    time_type="TEXT",
    int_type="INTEGER",
    real_type="REAL",
    day_of_at="substr(at, 1, 10)",
    stamp=_stamp,
)


class SQLiteUsageLedger(SqlUsageLedger):
    """The ledger in an SQLite database file (WAL)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        super().__init__(SQLiteDatabase(path), SQLITE_LEDGER, where=str(path))
