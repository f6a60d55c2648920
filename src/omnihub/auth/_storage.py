"""Storage for API state: one small SQL runner per database (SQLite, PostgreSQL), so each
store writes its SQL once with ``?`` placeholders, and the Redis client helpers."""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from omnihub.config import private_file
from omnihub.errors import ConfigurationError, StoreError, StoreUnavailableError

if TYPE_CHECKING:
    import redis.asyncio


class SqlRunner(Protocol):
    """Runs one statement at a time, each in its own transaction."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement; StoreError or StoreUnavailableError when it fails."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """The affected row count of one statement."""
        ...

    def close(self) -> None: ...


class _Runner(ABC):
    """``query`` and ``execute`` over one ``_run`` per database."""

    @abstractmethod
    def _run(self, sql: str, params: Sequence[Any]) -> tuple[list[tuple[Any, ...]], int]:
        """The rows (if any) and the affected row count of one statement."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run(sql, params)[0]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._run(sql, params)[1]


class SQLiteRunner(_Runner):
    """An autocommit WAL connection to one file, shared by the threads of a process.

    The file is created 0600 first (SQLite gives ``-wal``/``-shm`` the same mode), and
    ``secure_delete`` zeroes deleted content, so a replaced secret leaves no copy in the file.
    """

    def __init__(self, path: Path, schema: str, purpose: str) -> None:
        self.path = path
        self._purpose = purpose
        self._lock = threading.Lock()
        try:
            private_file(path)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute("PRAGMA secure_delete=ON")
            self._conn.executescript(schema)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the {purpose} at {path}: {exc}") from exc

    def _run(self, sql: str, params: Sequence[Any]) -> tuple[list[tuple[Any, ...]], int]:
        with self._lock:
            try:
                cursor = self._conn.execute(sql, tuple(params))
                return cursor.fetchall(), cursor.rowcount
            except sqlite3.OperationalError as exc:
                raise StoreUnavailableError(f"{self._purpose} unavailable: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"{self._purpose} failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresRunner(_Runner):
    """A psycopg 3 connection pool (autocommit) with ``schema`` applied at start-up."""

    def __init__(self, url: str, schema: str, purpose: str, *, pool_size: int = 4) -> None:
        try:
            import psycopg
            import psycopg_pool
        except ImportError as exc:  # pragma: no cover - the postgres extra is installed in dev
            raise ConfigurationError(
                f"a PostgreSQL {purpose} needs the 'postgres' extra (psycopg)"
            ) from exc
        self._purpose = purpose
        self._pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=pool_size, kwargs={"autocommit": True}, open=False
        )
        try:
            self._pool.open(wait=True, timeout=10.0)
            with self._pool.connection() as conn, conn.transaction():
                # Processes starting together would otherwise race on the catalog.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('omnihub_api_state'))")
                conn.execute(schema)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            self._pool.close()
            raise StoreUnavailableError(f"cannot open the {purpose}: {exc}") from exc

    def _run(self, sql: str, params: Sequence[Any]) -> tuple[list[tuple[Any, ...]], int]:
        import psycopg
        import psycopg_pool

        try:
            with self._pool.connection() as conn, conn.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), tuple(params))
                rows = cursor.fetchall() if cursor.description is not None else []
                return rows, cursor.rowcount
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            raise StoreUnavailableError(f"{self._purpose} unavailable: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"{self._purpose} failed: {exc}") from exc

    def close(self) -> None:
        self._pool.close()


def redis_client(url: str) -> redis.asyncio.Redis:
    """An asyncio Redis client for ``url``, passed through unchanged (``rediss://`` for TLS);
    no connection is made until first use."""
    try:
        import redis.asyncio
    except ImportError as exc:  # pragma: no cover - depends on installed extras
        raise ConfigurationError("Redis support needs the 'redis' extra") from exc
    return redis.asyncio.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


async def ping_redis(client: redis.asyncio.Redis) -> None:
    """Return when Redis answers PING; StoreUnavailableError otherwise."""
    import redis.exceptions

    try:
        await client.ping()
    except redis.exceptions.RedisError as exc:
        raise StoreUnavailableError(f"Redis unavailable: {exc}") from exc
