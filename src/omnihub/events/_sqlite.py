"""The embedded event store: one SQLite file in WAL mode.

Durability: every append is its own transaction, committed with ``synchronous=FULL`` so a
committed event survives power loss (in WAL mode ``NORMAL`` may lose the last commits).
Appends from all threads of a process share one writer connection behind a lock, and
``BEGIN IMMEDIATE`` takes SQLite's write lock at the start, so writers in other processes wait
(``busy_timeout``) instead of failing halfway. Readers use one connection per thread and see a
consistent snapshot while writes go on.

Global order: SQLite has a single writer at a time and positions are allocated inside the write
transaction (``max + 1``), so positions commit in increasing order and a tailing reader can
never skip one.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from omnihub.config import parse_backend_url, private_file
from omnihub.errors import (
    ConcurrencyError,
    ConfigurationError,
    StoreError,
    StoreUnavailableError,
)
from omnihub.events._envelope import EventEnvelope, NewEvent
from omnihub.events._goal_index import GoalIndexRow, IndexedGoal, indexed
from omnihub.events._registry import EventRegistry
from omnihub.events._store import (
    CHAIN_COLUMNS,
    COLUMNS,
    DEFAULT_MAX_PAYLOAD_BYTES,
    BaseEventStore,
    Head,
    HeadCache,
    Pending,
    chain_range_sql,
)
from omnihub.events._subscription import ConditionWaiter, Waiter

__all__ = ["SQLiteEventStore", "sqlite_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS omnihub_events (
    global_position INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    correlation_id TEXT,
    causation_id TEXT,
    idempotency_key TEXT,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (tenant_id, stream_id, stream_version)
);
CREATE UNIQUE INDEX IF NOT EXISTS omnihub_events_idempotency
    ON omnihub_events (tenant_id, stream_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS omnihub_events_tenant_position
    ON omnihub_events (tenant_id, global_position);
CREATE TABLE IF NOT EXISTS omnihub_goals (
    tenant_id TEXT NOT NULL,
    goal_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_position INTEGER NOT NULL,
    updated_position INTEGER NOT NULL,
    summary TEXT NOT NULL,
    PRIMARY KEY (tenant_id, goal_id)
);
CREATE INDEX IF NOT EXISTS omnihub_goals_created
    ON omnihub_goals (tenant_id, created_position);
CREATE INDEX IF NOT EXISTS omnihub_goals_status
    ON omnihub_goals (tenant_id, status, created_position);
"""
_PUT_GOAL = """
INSERT INTO omnihub_goals VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant_id, goal_id) DO UPDATE SET
    status = excluded.status,
    updated_position = excluded.updated_position,
    summary = excluded.summary
"""

_COLS = ", ".join(COLUMNS)
_CHAIN_COLS = ", ".join(CHAIN_COLUMNS)
_CHAIN_BATCH = 10_000
# One statement (so one trip through sqlite3 inside the write lock): the last position, the
# stream head and the goal's summary. Skipped when the head cache holds them.
_HEAD = """
SELECT
    (SELECT max(global_position) FROM omnihub_events),
    h.stream_version,
    h.hash,
    (SELECT summary FROM omnihub_goals WHERE tenant_id = :tenant AND goal_id = :stream)
FROM (SELECT 1) LEFT JOIN (
    SELECT stream_version, hash FROM omnihub_events WHERE tenant_id = :tenant
    AND stream_id = :stream ORDER BY stream_version DESC LIMIT 1
) AS h
"""
# Which of the given idempotency keys / event ids the stream already holds: only after the
# insert hit a unique index (or a stale expected version), so a first append never pays it.
_EXISTING = """
SELECT json_group_object(k, p) FROM (
    SELECT 'k:' || idempotency_key AS k, global_position AS p FROM omnihub_events
    WHERE tenant_id = :tenant AND stream_id = :stream
    AND idempotency_key IN (SELECT value FROM json_each(:keys))
    UNION ALL
    SELECT 'i:' || event_id, global_position FROM omnihub_events
    WHERE tenant_id = :tenant AND stream_id = :stream
    AND event_id IN (SELECT value FROM json_each(:ids)))
"""
_FOLD = (
    "SELECT stream_version, event_type, schema_version, occurred_at, payload FROM omnihub_events "
    "WHERE tenant_id = ? AND stream_id = ? ORDER BY stream_version"
)
# Many goals' fold rows, in the order the goals are listed (the index json_each gives each),
# each goal's by version: one index search per goal, then a sort of the chunk's rows.
_FOLD_MANY = (
    "SELECT j.key, e.stream_version, e.event_type, e.schema_version, e.occurred_at, e.payload "
    "FROM json_each(?) AS j CROSS JOIN omnihub_events AS e "
    "WHERE e.tenant_id = ? AND e.stream_id = j.value ORDER BY j.key, e.stream_version"
)
_ROW = "(" + ", ".join("?" * len(COLUMNS)) + ")"
_NEW_STREAM = Head(0, None, None)
_ROWS_PER_INSERT = 500  # 15 parameters a row, well under SQLite's 32,766


@functools.lru_cache(maxsize=32)
def _insert_sql(rows: int) -> str:
    """A multi-row INSERT: one statement per append instead of one step per row."""
    return f"INSERT INTO omnihub_events ({_COLS}) VALUES " + ", ".join([_ROW] * rows)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL (``sqlite:////abs/path`` or a relative path)."""
    path = parse_backend_url(url, allowed=("sqlite",), purpose="SQLite event store URL").path
    assert path is not None  # the parser gives every sqlite URL a path
    return path


def translated(action: str, exc: sqlite3.Error) -> StoreError:
    """OmniHub's store error for a sqlite3 error raised while trying to ``action``."""
    if isinstance(exc, sqlite3.IntegrityError):
        return StoreError(f"cannot {action}: {exc} (an event id used in another stream?)")
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailableError(f"cannot {action}: {exc}")
    return StoreError(f"cannot {action}: {exc}")


@contextlib.contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn sqlite3 errors into OmniHub's store errors."""
    try:
        yield
    except sqlite3.Error as exc:
        raise translated(action, exc) from exc


class SQLiteEventStore(BaseEventStore):
    """The :class:`~omnihub.events.EventStore` on one SQLite file (the embedded default)."""

    def __init__(
        self,
        url: str,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        registry: EventRegistry | None = None,
        synchronous: str = "FULL",
    ) -> None:
        super().__init__(url, max_payload_bytes=max_payload_bytes, registry=registry)
        if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
            raise ConfigurationError(f"unsupported SQLite synchronous mode {synchronous!r}")
        self.path = sqlite_path(url)
        self.synchronous = synchronous.upper()
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._changed = threading.Condition()
        self._generation = 0
        self._heads = HeadCache()
        self._last_position: int | None = None
        try:
            # 0600 before SQLite opens it: the -wal and -shm files inherit the mode.
            private_file(self.path)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot create {self.path}: {exc}") from exc
        self._writer = self._connect()
        with translate_errors("create the event schema"):
            self._writer.executescript(_SCHEMA)
            self._index_old_events()

    def _index_old_events(self) -> None:
        """Fill the goal index of a file written before it existed (once, in one transaction;
        a writer in another process waits for it)."""
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            missing = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM omnihub_events) "
                "AND NOT EXISTS (SELECT 1 FROM omnihub_goals)"
            ).fetchone()[0]
            if missing:
                tenants = conn.execute("SELECT DISTINCT tenant_id FROM omnihub_events").fetchall()
                for (tenant,) in tenants:
                    rows = conn.execute(
                        f"SELECT {_COLS} FROM omnihub_events WHERE tenant_id = ? "
                        "ORDER BY global_position",
                        (tenant,),
                    ).fetchall()
                    conn.executemany(_PUT_GOAL, self.rebuild_goal_index(rows))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _connect(self) -> sqlite3.Connection:
        with translate_errors(f"open {self.path}"):
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return conn

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the event store is closed")

    def _reader(self) -> sqlite3.Connection:
        self._check_open()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        tenant_id: str,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: int | None = None,
    ) -> list[int]:
        """See :meth:`EventStore.append`.

        Validation and serialisation run inside the write lock too: under the GIL there is no
        parallel CPU to gain from doing them outside, and other threads' CPU work competing for
        the GIL stretched every hand-off inside the critical section (about 35 % fewer events
        per second with 4 writers, measured).
        """
        with self._write_lock:
            return super().append(tenant_id, stream_id, events, expected_version)

    def _write(
        self,
        tenant_id: str,
        stream_id: str,
        pending: Sequence[Pending],
        expected_version: int | None,
    ) -> list[int]:
        # The caller (append) holds the write lock. No context manager and no data_version
        # statement here: at four events per append, per-call overhead was a measurable
        # share of the CPU per commit, which is what bounds SQLite appends.
        if self._closed:
            raise StoreError("the event store is closed")
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # A stream this process has not written is taken to be new (most are: a
                # saga's goal stream starts with its first append); if it is not, version 1
                # collides and _insert reads the head.
                head = self._heads.get(tenant_id, stream_id) or _NEW_STREAM
                base = self._last_position
                fresh = base is None
                if base is None:
                    head, base = self._read_head(conn, tenant_id, stream_id)
                positions, rows, goal, head = self._insert(
                    conn, tenant_id, stream_id, pending, head, base, expected_version, fresh
                )
                if goal is not None:
                    conn.execute(_PUT_GOAL, goal)
                conn.execute("COMMIT")
            except BaseException:
                self._heads.clear()
                self._last_position = None
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise translated(f"append to stream {stream_id!r}", exc) from exc
        if rows:
            self._heads.put(tenant_id, stream_id, self.head_after(head, rows, goal))
            self._last_position = cast(int, rows[-1][0])
            with self._changed:
                self._generation += 1
                self._changed.notify_all()
        return positions

    def _read_head(
        self, conn: sqlite3.Connection, tenant_id: str, stream_id: str
    ) -> tuple[Head, int]:
        """The stream's head and the last global position, as stored (not cached)."""
        last, version, prev_hash, summary = conn.execute(
            _HEAD, {"tenant": tenant_id, "stream": stream_id}
        ).fetchone()
        return Head(version or 0, prev_hash, summary), last or 0

    def _insert(
        self,
        conn: sqlite3.Connection,
        tenant_id: str,
        stream_id: str,
        pending: Sequence[Pending],
        head: Head,
        base: int,
        expected_version: int | None,
        fresh: bool,
    ) -> tuple[list[int], list[tuple[object, ...]], GoalIndexRow | None, Head]:
        """Plan and insert the rows, fold the goal-index row, and return both with the head
        they were planned on, first assuming the cached head is current and no event is a
        duplicate.

        A stale cache (another connection committed since) or a wrong guess that a stream is
        new cannot go unnoticed: positions are dense (``max + 1``), so a stale last position
        collides with the primary key, and a stale stream head with the unique ``(tenant,
        stream, version)`` index. That replaces a
        ``PRAGMA data_version`` statement per append. On a collision the head is read as
        stored and the rows planned again; if that still collides (or the expected version
        differs), the given idempotency keys and event ids are looked up (a first append never
        pays for it) and the rows planned once more.
        """
        existing: dict[str, int] = {}
        while True:
            try:
                positions, rows = self.plan_rows(
                    tenant_id,
                    stream_id,
                    pending,
                    head,
                    expected_version=expected_version,
                    existing=existing,
                    position_of=base.__add__,
                )
                for start in range(0, len(rows), _ROWS_PER_INSERT):
                    chunk = rows[start : start + _ROWS_PER_INSERT]
                    conn.execute(_insert_sql(len(chunk)), [v for row in chunk for v in row])
            except (sqlite3.IntegrityError, ConcurrencyError):
                # A failed INSERT statement leaves the transaction as it was.
                if not fresh:
                    head, base = self._read_head(conn, tenant_id, stream_id)
                    fresh = True
                    continue
                keys, ids = self.lookup_keys(pending)
                if existing or not (keys or ids):
                    raise
                found = conn.execute(
                    _EXISTING,
                    {
                        "tenant": tenant_id,
                        "stream": stream_id,
                        "keys": json.dumps(keys),
                        "ids": json.dumps(ids),
                    },
                ).fetchone()[0]
                existing = json.loads(found) if found else {}
                if existing:
                    continue
                raise
            goal = self.goal_index_row(head.summary, pending, rows) if rows else None
            return positions, rows, goal, head

    # -- reading ---------------------------------------------------------------------------

    def read_stream(
        self, tenant_id: str, stream_id: str, from_version: int = 1
    ) -> list[EventEnvelope]:
        with translate_errors(f"read stream {stream_id!r}"):
            rows = (
                self._reader()
                .execute(
                    f"SELECT {_COLS} FROM omnihub_events WHERE tenant_id = ? AND stream_id = ? "
                    "AND stream_version >= ? ORDER BY stream_version",
                    (tenant_id, stream_id, from_version),
                )
                .fetchall()
            )
        return self.envelopes(rows)

    def _fold_rows(self, tenant_id: str, stream_id: str) -> list[tuple[Any, ...]]:
        with translate_errors(f"read stream {stream_id!r}"):
            rows: list[tuple[Any, ...]] = (
                self._reader().execute(_FOLD, (tenant_id, stream_id)).fetchall()
            )
        return rows

    def _fold_rows_of(
        self, tenant_id: str, chunks: Sequence[Sequence[str]]
    ) -> Iterator[list[tuple[Any, ...]]]:
        reader = self._reader()
        for chunk in chunks:
            with translate_errors("read goals"):
                rows: list[tuple[Any, ...]] = reader.execute(
                    _FOLD_MANY, (json.dumps(chunk), tenant_id)
                ).fetchall()
            yield rows

    def stream_version(self, tenant_id: str, stream_id: str) -> int:
        with translate_errors(f"read stream {stream_id!r}"):
            row = (
                self._reader()
                .execute(
                    "SELECT max(stream_version) FROM omnihub_events "
                    "WHERE tenant_id = ? AND stream_id = ?",
                    (tenant_id, stream_id),
                )
                .fetchone()
            )
        return int(row[0] or 0)

    def _rows_after(self, tenant_id: str, from_position: int, limit: int) -> list[tuple[Any, ...]]:
        with translate_errors("read events"):
            rows: list[tuple[Any, ...]] = (
                self._reader()
                .execute(
                    f"SELECT {_COLS} FROM omnihub_events WHERE tenant_id = ? "
                    "AND global_position > ? ORDER BY global_position LIMIT ?",
                    (tenant_id, from_position, limit),
                )
                .fetchall()
            )
        return rows

    def iter_chain_batches(
        self, tenant_id: str, *, after: int | None = None, upto: int | None = None
    ) -> Iterator[list[tuple[Any, ...]]]:
        # A private connection: the cursor (one read transaction, so one snapshot) stays
        # open while the caller iterates, and a forked process may open one too (see
        # chain_bounds). Global order rides the (tenant, position) index, visiting table
        # pages in order; stream order would jump across the file per row.
        with contextlib.closing(self._connect()) as conn, translate_errors("read events"):
            cursor = conn.execute(
                f"SELECT {_CHAIN_COLS} FROM omnihub_events WHERE tenant_id = ?"
                f"{chain_range_sql(after, upto, '?')} ORDER BY global_position",
                (tenant_id, *(bound for bound in (after, upto) if bound is not None)),
            )
            cursor.arraysize = _CHAIN_BATCH
            while rows := cursor.fetchmany():
                yield rows

    def chain_bounds(self, tenant_id: str) -> tuple[int, int] | None:
        with translate_errors("read events"):
            low, high = (
                self._reader()
                .execute(
                    "SELECT min(global_position), max(global_position) FROM omnihub_events "
                    "WHERE tenant_id = ?",
                    (tenant_id,),
                )
                .fetchone()
            )
        return None if low is None else (int(low), int(high))

    def list_streams(self, tenant_id: str) -> list[str]:
        with translate_errors("list streams"):
            rows = (
                self._reader()
                .execute(
                    "SELECT DISTINCT stream_id FROM omnihub_events WHERE tenant_id = ? "
                    "ORDER BY stream_id",
                    (tenant_id,),
                )
                .fetchall()
            )
        return [str(row[0]) for row in rows]

    def list_tenants(self) -> list[str]:
        with translate_errors("list tenants"):
            rows = (
                self._reader()
                .execute("SELECT DISTINCT tenant_id FROM omnihub_events ORDER BY tenant_id")
                .fetchall()
            )
        return [str(row[0]) for row in rows]

    def list_goals(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[IndexedGoal]:
        """See :meth:`EventStore.list_goals`."""
        query, params = self.goal_index_query(tenant_id, status, limit, before, "?")
        with translate_errors("list goals"):
            rows = self._reader().execute(query, params).fetchall()
        return [indexed(*row) for row in rows]

    def _waiter(self) -> Waiter:
        self._check_open()
        return ConditionWaiter(self._changed, lambda: self._generation)

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._changed:
            self._changed.notify_all()
