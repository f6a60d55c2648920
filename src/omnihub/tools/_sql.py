"""A small synchronous SQL layer over SQLite and PostgreSQL for the ledger and database tools.

SQL is written once with ``?`` placeholders; the PostgreSQL backend rewrites them to ``%s``.
Values always travel as parameters; identifiers are checked by the callers.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from omnihub import telemetry
from omnihub.config import parse_backend_url, private_file
from omnihub.errors import ConfigurationError, StoreError, StoreUnavailableError


class SqlCursor(Protocol):
    """The part of a DB-API cursor the tools use, inside one transaction."""

    def execute(self, sql: str, params: Sequence[Any] = (), *, traced: bool = True) -> int:
        """Run one statement; return the affected row count. Each statement is a ``db.sql``
        span unless ``traced`` is False (the idempotency ledger's bookkeeping)."""
        ...

    def fetchall(self) -> list[dict[str, Any]]:
        """Rows of the last query, as dictionaries."""
        ...


def _statement_span(system: str, sql: str, traced: bool) -> contextlib.AbstractContextManager[Any]:
    """obs hook: one ``db.sql`` span per statement (the text only, never the parameters)."""
    if not traced:
        return contextlib.nullcontext()
    return telemetry.span("db.sql", {"db.system": system, "db.statement": sql})


class SqlDatabase(Protocol):
    """A SQL database that runs work in atomic transactions."""

    dialect: str

    def transaction(self) -> Any:
        """A context manager yielding a :class:`SqlCursor`; commits on success."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class _SQLiteCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = (), *, traced: bool = True) -> int:
        with _statement_span("sqlite", sql, traced):
            self._cursor.execute(sql, tuple(params))
        return self._cursor.rowcount

    def fetchall(self) -> list[dict[str, Any]]:
        names = [column[0] for column in self._cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in self._cursor.fetchall()]


class SQLiteDatabase:
    """An SQLite file in WAL mode; one connection per thread, ``BEGIN IMMEDIATE`` per write."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if not self.path.exists():  # a file OmniHub creates is private (0600)
                    private_file(self.path)
                conn = sqlite3.connect(
                    self.path, timeout=30.0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except (sqlite3.Error, OSError) as exc:
                raise StoreUnavailableError(f"cannot open SQLite {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[SqlCursor]:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteCursor(conn.cursor())
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            # "no such column" is an OperationalError too, but only contention can pass.
            transient = any(w in str(exc) for w in ("locked", "busy", "unable to open", "I/O"))
            error = StoreUnavailableError if transient else StoreError
            raise error(f"SQLite {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


class _PostgresCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = (), *, traced: bool = True) -> int:
        with _statement_span("postgresql", sql, traced):
            self._cursor.execute(sql.replace("?", "%s"), tuple(params))
        return int(self._cursor.rowcount)

    def fetchall(self) -> list[dict[str, Any]]:
        names = [column.name for column in self._cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in self._cursor.fetchall()]


class PostgresDatabase:
    """PostgreSQL through a psycopg connection pool."""

    dialect = "postgresql"

    def __init__(self, url: str, *, max_size: int = 10) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - the postgres extra is installed in dev
            raise ConfigurationError(
                "PostgreSQL needs the 'postgres' extra: pip install 'omnihub[postgres]'"
            ) from exc
        self._psycopg = psycopg
        try:
            self._pool = ConnectionPool(
                url, min_size=1, max_size=max_size, open=True, kwargs={"autocommit": True}
            )
            self._pool.wait(timeout=10.0)
        except (psycopg.Error, Exception) as exc:
            raise StoreUnavailableError(f"cannot connect to PostgreSQL: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[SqlCursor]:
        psycopg = self._psycopg
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
                yield _PostgresCursor(cursor)
        except psycopg.OperationalError as exc:
            # chaos2: after a server restart every idle pooled connection is dead and would
            # fail one call each (burning a step's retries); drop them all now, not one by one.
            self._pool.check()
            raise StoreUnavailableError(f"PostgreSQL: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    def close(self) -> None:
        self._pool.close()


def open_database(url: str) -> SqlDatabase:
    """Build the database for ``sqlite:///PATH`` or ``postgresql://…``."""
    backend = parse_backend_url(url, allowed=("sqlite", "postgresql"), purpose="database URL")
    return PostgresDatabase(url) if backend.path is None else SQLiteDatabase(backend.path)
