"""Small storage helpers shared by the API's SQLite and Redis backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from omnihub.errors import StoreError, StoreUnavailableError

if TYPE_CHECKING:
    import redis.asyncio


def connect_sqlite(path: Path, schema: str, purpose: str) -> sqlite3.Connection:
    """An autocommit WAL connection to ``path`` with ``schema`` applied; StoreError if not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(schema)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the {purpose} at {path}: {exc}") from exc
    return conn


async def ping_redis(client: redis.asyncio.Redis) -> None:
    """Return when Redis answers PING; StoreUnavailableError otherwise."""
    import redis.exceptions

    try:
        await client.ping()
    except redis.exceptions.RedisError as exc:
        raise StoreUnavailableError(f"Redis unavailable: {exc}") from exc
