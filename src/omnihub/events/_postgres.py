"""The scale-out event store on PostgreSQL (psycopg 3, a connection pool, LISTEN/NOTIFY).

Global order without gaps for tailing readers
--------------------------------------------
With concurrent writers, a position taken from a sequence is not a commit order: a writer
holding position 5 may commit after another writer's position 6 is already visible, and a
reader that moved past 6 would never see 5. Serialising writers with a table lock fixes that
but caps throughput at one commit at a time.

This store instead derives positions from the writing transaction's id and lets readers read
only below the oldest transaction still in flight:

* every appended row's ``global_position`` is ``(xid << 16) + k``, where ``xid`` is the
  writer's 64-bit transaction id (``pg_current_xact_id()``, never wraps) and ``k`` (1..65535)
  the row's index among the new rows of that append. Positions are unique, increase within a
  stream, and are *not* dense (consumers only compare them);
* ``read_all`` returns only rows with ``global_position < (pg_snapshot_xmin(snapshot) << 16)``:
  every transaction with an id below the snapshot's ``xmin`` has finished (committed or rolled
  back), and every transaction that can still commit has an id >= ``xmin``, hence positions
  above anything already returned. A reader that continues from the last position it saw
  therefore never skips an event that commits later, while writers never wait for each other
  (except on the same stream, via its unique version index).

The cost is latency, not correctness: a long-running writing transaction anywhere in the
cluster holds back what tailing readers can see until it ends.

Subscriptions LISTEN on the ``omnihub_events`` channel; each append sends ``NOTIFY`` with its
tenant inside its transaction, so the notification arrives only if the events commit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from omnihub.errors import ConcurrencyError, StoreError, StoreUnavailableError
from omnihub.events._envelope import EventEnvelope
from omnihub.events._goal_index import IndexedGoal, indexed
from omnihub.events._registry import EventRegistry
from omnihub.events._store import (
    COLUMNS,
    DEFAULT_MAX_PAYLOAD_BYTES,
    BaseEventStore,
    Head,
    HeadCache,
    Pending,
)
from omnihub.events._subscription import Waiter

__all__ = ["CHANNEL", "PostgresEventStore"]

CHANNEL = "omnihub_events"
_RETRIES = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS omnihub_events (
    global_position bigint PRIMARY KEY,
    tenant_id text NOT NULL,
    stream_id text NOT NULL,
    stream_version integer NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    occurred_at text NOT NULL,
    recorded_at text NOT NULL,
    correlation_id text,
    causation_id text,
    idempotency_key text,
    payload json NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    CONSTRAINT omnihub_events_event_id UNIQUE (event_id),
    CONSTRAINT omnihub_events_stream_version UNIQUE (tenant_id, stream_id, stream_version)
);
CREATE UNIQUE INDEX IF NOT EXISTS omnihub_events_idempotency
    ON omnihub_events (tenant_id, stream_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS omnihub_events_tenant_position
    ON omnihub_events (tenant_id, global_position);
CREATE TABLE IF NOT EXISTS omnihub_goals (
    tenant_id text NOT NULL,
    goal_id text NOT NULL,
    status text NOT NULL,
    created_position bigint NOT NULL,
    updated_position bigint NOT NULL,
    summary text NOT NULL,
    PRIMARY KEY (tenant_id, goal_id)
);
CREATE INDEX IF NOT EXISTS omnihub_goals_created
    ON omnihub_goals (tenant_id, created_position);
CREATE INDEX IF NOT EXISTS omnihub_goals_status
    ON omnihub_goals (tenant_id, status, created_position);
"""
# The goal's index row, in the append's transaction. Appends to one stream are serialised by
# the stream's unique version index (the loser retries), so the summary read by _HEAD is the
# one this upsert replaces.
_PUT_GOAL = (
    "INSERT INTO omnihub_goals VALUES (%s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (tenant_id, goal_id) DO UPDATE SET status = excluded.status, "
    "updated_position = excluded.updated_position, summary = excluded.summary"
)

_SELECT = ", ".join("payload::text" if c == "payload" else c for c in COLUMNS)
_XID = "(pg_current_xact_id()::text::bigint << 16)"
# Read the head: assign this transaction's id, queue the commit-time notification, read the
# stream head and the goal's summary (one round trip, with BEGIN).
_HEAD = (
    f"SELECT pg_current_xact_id()::text::bigint, h.stream_version, h.hash, "
    f"pg_notify('{CHANNEL}', %(tenant)s), "
    "(SELECT summary FROM omnihub_goals WHERE tenant_id = %(tenant)s AND goal_id = %(stream)s) "
    "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT stream_version, hash FROM omnihub_events "
    "WHERE tenant_id = %(tenant)s AND stream_id = %(stream)s "
    "ORDER BY stream_version DESC LIMIT 1) AS h ON true"
)
# Which idempotency keys / explicit event ids the stream already holds: only once an insert
# hit their unique index (or a stale expected version), so a first append never pays it.
_EXISTING = (
    "SELECT coalesce(json_object_agg(e.k, e.p), '{}') FROM ("
    "  SELECT 'k:' || idempotency_key AS k, global_position AS p FROM omnihub_events"
    "  WHERE tenant_id = %(tenant)s AND stream_id = %(stream)s"
    "  AND idempotency_key = ANY(%(keys)s::text[])"
    "  UNION ALL SELECT 'i:' || event_id, global_position FROM omnihub_events"
    "  WHERE tenant_id = %(tenant)s AND stream_id = %(stream)s"
    "  AND event_id = ANY(%(ids)s::text[])) AS e"
)
_INSERT = (
    f"INSERT INTO omnihub_events ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
)
# With a cached head the positions are not known before the statements are sent: each row
# carries its index k and the server adds its transaction's id, so the whole append (BEGIN,
# notify, inserts, goal row, COMMIT) is a single round trip.
_INSERT_K = (
    f"INSERT INTO omnihub_events ({', '.join(COLUMNS)}) VALUES ({_XID} + %s, "
    f"{', '.join(['%s'] * (len(COLUMNS) - 1))})"
)
_NOTIFY = f"SELECT pg_current_xact_id()::text::bigint, pg_notify('{CHANNEL}', %s)"
_PUT_GOAL_K = (
    f"INSERT INTO omnihub_goals VALUES (%s, %s, %s, %s, {_XID} + %s, %s) "
    "ON CONFLICT (tenant_id, goal_id) DO UPDATE SET status = excluded.status, "
    "updated_position = excluded.updated_position, summary = excluded.summary"
)
_VISIBLE = "global_position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)"


@contextlib.contextmanager
def translate_errors(
    action: str, pool: psycopg_pool.ConnectionPool[Any] | None = None
) -> Iterator[None]:
    """Turn psycopg and pool errors into OmniHub's store errors."""
    try:
        yield
    except psycopg_pool.PoolTimeout as exc:
        raise StoreUnavailableError(f"cannot {action}: no database connection ({exc})") from exc
    except psycopg.OperationalError as exc:
        if pool is not None:
            # chaos2: after a server restart every idle pooled connection is dead and would
            # fail one call each (burning a step's retries); drop them all now, not one by one.
            pool.check()
        raise StoreUnavailableError(f"cannot {action}: {exc}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"cannot {action}: {exc}") from exc


class _Retry(Exception):
    """A concurrent append won a unique index race (read the head again), or the append
    holds an event the stream already has (``lookup``: find which, then plan again)."""

    def __init__(self, *, lookup: bool = False) -> None:
        super().__init__()
        self.lookup = lookup


class PostgresEventStore(BaseEventStore):
    """The :class:`~omnihub.events.EventStore` on PostgreSQL (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        registry: EventRegistry | None = None,
        pool_size: int = 16,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__(url, max_payload_bytes=max_payload_bytes, registry=registry)
        self._closed = False
        self._heads = HeadCache()
        with translate_errors("connect to PostgreSQL"):
            self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = (
                psycopg_pool.ConnectionPool(
                    url,
                    min_size=1,
                    max_size=pool_size,
                    kwargs={"autocommit": True},
                    open=False,
                    timeout=connect_timeout,
                )
            )
            try:
                self._pool.open(wait=True, timeout=connect_timeout)
                with self._pool.connection() as conn, conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('omnihub_events'))")
                    conn.execute(_SCHEMA)
                    self._index_old_events(conn)
            except BaseException:
                self._pool.close()
                raise

    def _index_old_events(self, conn: psycopg.Connection[Any]) -> None:
        """Fill the goal index of a database written before it existed (under the schema
        lock, so once)."""
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM omnihub_events) "
            "AND NOT EXISTS (SELECT 1 FROM omnihub_goals)"
        ).fetchone()
        if not row or not row[0]:
            return
        for (tenant,) in conn.execute("SELECT DISTINCT tenant_id FROM omnihub_events").fetchall():
            rows = conn.execute(
                f"SELECT {_SELECT} FROM omnihub_events WHERE tenant_id = %s "
                "ORDER BY global_position",
                (tenant,),
            ).fetchall()
            goals = self.rebuild_goal_index(rows)
            if goals:
                conn.cursor().executemany(_PUT_GOAL, goals)

    # -- writing ---------------------------------------------------------------------------

    def _write(
        self,
        tenant_id: str,
        stream_id: str,
        pending: Sequence[Pending],
        expected_version: int | None,
    ) -> list[int]:
        keys, ids = self.lookup_keys(pending)
        self._check_open()
        lookup = False
        with translate_errors(f"append to stream {stream_id!r}", self._pool):
            for _ in range(_RETRIES):
                try:
                    head = self._heads.get(tenant_id, stream_id)
                    if (
                        not lookup
                        and head is not None
                        and head.summary is not None
                        and expected_version in (None, head.version)
                    ):
                        return self._append_known(tenant_id, stream_id, pending, head)
                    return self._append_once(
                        tenant_id, stream_id, pending, keys, ids, expected_version, lookup
                    )
                except _Retry as retry:
                    self._heads.drop(tenant_id, stream_id)
                    lookup = lookup or (retry.lookup and bool(keys or ids))
            raise StoreError(f"append to stream {stream_id!r} kept losing races; try again")

    def _append_known(
        self, tenant_id: str, stream_id: str, pending: Sequence[Pending], head: Head
    ) -> list[int]:
        """One round trip, on the head this process wrote last (see HeadCache): a stale head
        or a duplicate event fails on a unique index and the caller retries the long way."""
        offsets, rows = self.plan_rows(
            tenant_id,
            stream_id,
            pending,
            head,
            expected_version=None,
            existing={},
            position_of=lambda k: k,
        )
        goal = self.goal_index_row(head.summary, pending, rows)
        with self._pool.connection() as conn:
            try:
                with conn.pipeline(), conn.transaction():
                    xid_cursor = conn.execute(_NOTIFY, (tenant_id,))
                    conn.cursor().executemany(_INSERT_K, rows)
                    if goal is not None:
                        conn.execute(_PUT_GOAL_K, goal)
            except pg_errors.UniqueViolation as exc:
                if exc.diag.constraint_name == "omnihub_events_stream_version":
                    raise _Retry from exc  # someone else appended: read the head
                raise _Retry(lookup=True) from exc  # a duplicate event: look it up
            row = xid_cursor.fetchone()
        base = int(row[0]) << 16  # type: ignore[index]
        self._heads.put(tenant_id, stream_id, self.head_after(head, rows, goal))
        return [base + k for k in offsets]

    def _append_once(
        self,
        tenant_id: str,
        stream_id: str,
        pending: Sequence[Pending],
        keys: list[str],
        ids: list[str],
        expected_version: int | None,
        lookup: bool,
    ) -> list[int]:
        with self._pool.connection() as conn:
            try:
                # Pipeline mode: BEGIN and the head query go in one round trip, the insert and
                # COMMIT in a second one.
                with conn.pipeline(), conn.transaction():
                    params = {"tenant": tenant_id, "stream": stream_id, "keys": keys, "ids": ids}
                    found = conn.execute(_EXISTING, params) if lookup else None
                    xid, version, prev_hash, _, summary = conn.execute(_HEAD, params).fetchone()  # type: ignore[misc]
                    existing = found.fetchone()[0] if found is not None else {}  # type: ignore[index]
                    head = Head(version or 0, prev_hash, summary)
                    try:
                        positions, rows = self.plan_rows(
                            tenant_id,
                            stream_id,
                            pending,
                            head,
                            expected_version=expected_version,
                            existing=existing,
                            position_of=lambda k: (xid << 16) + k,
                        )
                    except ConcurrencyError:
                        if lookup or not (keys or ids):
                            raise
                        raise _Retry(lookup=True) from None  # maybe a retried append
                    goal = None
                    if rows:
                        conn.cursor().executemany(_INSERT, rows)
                        goal = self.goal_index_row(summary, pending, rows)
                        if goal is not None:
                            conn.execute(_PUT_GOAL, goal)
                self._heads.put(tenant_id, stream_id, self.head_after(head, rows, goal))
                return positions
            except pg_errors.UniqueViolation as exc:
                name = exc.diag.constraint_name
                if name != "omnihub_events_stream_version" and not lookup and (keys or ids):
                    raise _Retry(lookup=True) from exc  # a duplicate event: look it up
                if name == "omnihub_events_event_id":
                    raise StoreError(
                        f"cannot append to stream {stream_id!r}: an event id is already used "
                        "by another stream"
                    ) from exc
                if expected_version is not None:
                    actual = self.stream_version(tenant_id, stream_id)
                    if actual != expected_version:
                        raise ConcurrencyError(stream_id, expected_version, actual) from exc
                raise _Retry from exc

    # -- reading ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the event store is closed")

    def _fetch(self, action: str, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self._check_open()
        with translate_errors(action, self._pool), self._pool.connection() as conn:
            return conn.execute(query, params).fetchall()

    def read_stream(
        self, tenant_id: str, stream_id: str, from_version: int = 1
    ) -> list[EventEnvelope]:
        rows = self._fetch(
            f"read stream {stream_id!r}",
            f"SELECT {_SELECT} FROM omnihub_events WHERE tenant_id = %s AND stream_id = %s "
            "AND stream_version >= %s ORDER BY stream_version",
            (tenant_id, stream_id, from_version),
        )
        return self.envelopes(rows)

    def _fold_rows(self, tenant_id: str, stream_id: str) -> list[tuple[Any, ...]]:
        return self._fetch(
            f"read stream {stream_id!r}",
            "SELECT stream_version, event_type, schema_version, occurred_at, payload::text "
            "FROM omnihub_events WHERE tenant_id = %s AND stream_id = %s ORDER BY stream_version",
            (tenant_id, stream_id),
        )

    def stream_version(self, tenant_id: str, stream_id: str) -> int:
        rows = self._fetch(
            f"read stream {stream_id!r}",
            "SELECT max(stream_version) FROM omnihub_events WHERE tenant_id = %s "
            "AND stream_id = %s",
            (tenant_id, stream_id),
        )
        return int(rows[0][0] or 0)

    def _rows_after(self, tenant_id: str, from_position: int, limit: int) -> list[tuple[Any, ...]]:
        return self._fetch(
            "read events",
            f"SELECT {_SELECT} FROM omnihub_events WHERE tenant_id = %s "
            f"AND global_position > %s AND {_VISIBLE} ORDER BY global_position LIMIT %s",
            (tenant_id, from_position, limit),
        )

    def iter_stream_rows(
        self, tenant_id: str, first_stream: str, last_stream: str
    ) -> Iterator[tuple[Any, ...]]:
        self._check_open()
        with (
            translate_errors("read events", self._pool),
            self._pool.connection() as conn,
            conn.transaction(),
            # A server-side cursor: rows arrive 5,000 at a time, never all in memory.
            conn.cursor(name="omnihub_audit") as cursor,
        ):
            cursor.itersize = 5000
            cursor.execute(
                f"SELECT {_SELECT} FROM omnihub_events WHERE tenant_id = %s "
                "AND stream_id BETWEEN %s AND %s ORDER BY stream_id, stream_version",
                (tenant_id, first_stream, last_stream),
            )
            yield from cursor

    def list_streams(self, tenant_id: str) -> list[str]:
        rows = self._fetch(
            "list streams",
            "SELECT DISTINCT stream_id FROM omnihub_events WHERE tenant_id = %s ORDER BY 1",
            (tenant_id,),
        )
        return [str(row[0]) for row in rows]

    def list_tenants(self) -> list[str]:
        rows = self._fetch(
            "list tenants", "SELECT DISTINCT tenant_id FROM omnihub_events ORDER BY 1", ()
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
        query, params = self.goal_index_query(tenant_id, status, limit, before, "%s")
        rows = self._fetch("list goals", query, params)
        return [indexed(*row) for row in rows]

    def _waiter(self) -> Waiter:
        self._check_open()
        return _NotifyWaiter(self.url)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.close()


class _NotifyWaiter:
    """Waits on ``LISTEN omnihub_events`` with its own connection (notifications queue up on
    it between waits, so none is lost while the subscription reads)."""

    def __init__(self, url: str) -> None:
        with translate_errors("listen for new events"):
            self._conn = psycopg.connect(url, autocommit=True)
            self._conn.execute(f"LISTEN {CHANNEL}")

    def token(self) -> int:
        return 0

    def wait(self, token: int, timeout: float) -> None:
        with translate_errors("wait for new events"):
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                pass

    def wake(self) -> None:
        # A blocked wait() ends at its timeout (the poll interval); nothing to interrupt.
        return None

    def close(self) -> None:
        self._conn.close()
