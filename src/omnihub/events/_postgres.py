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

Subscriptions LISTEN on the ``omnihub_events`` channel; once appends commit, a thread of the
store sends one ``NOTIFY`` per tenant for all of them (see :mod:`._postgres_notify` for why
not inside each append's transaction).
"""

from __future__ import annotations

import contextlib
import functools
import operator
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import orjson
import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from omnihub.errors import ConcurrencyError, StoreError, StoreUnavailableError, ValidationError
from omnihub.events._envelope import EventEnvelope
from omnihub.events._goal_index import GoalIndexRow, IndexedGoal, indexed
from omnihub.events._postgres_notify import CommitNotifier
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
from omnihub.events._subscription import Waiter

__all__ = ["CHANNEL", "PostgresEventStore"]

CHANNEL = "omnihub_events"
_dumps = orjson.dumps
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
_CHAIN_SELECT = ", ".join("payload::text" if c == "payload" else c for c in CHAIN_COLUMNS)
_CHAIN_BATCH = 2000  # measured: smaller batches keep the fetching thread closer behind
_T = TypeVar("_T")
_XID = "(pg_current_xact_id()::text::bigint << 16)"
# The stream head and the goal's summary, read outside any transaction (one snapshot, one
# round trip); only when this process has no head cached for the stream.
_HEAD = (
    "SELECT h.stream_version, h.hash, "
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
# A placeholder for the position of a new goal's first event in its summary JSON (whose keys
# are sorted, so ``_position`` comes first): the position exists only once the statement runs.
_NEW_GOAL = '{"_position":-1'


# The whole append as ONE statement (so one implicit transaction and one round trip, on an
# autocommit connection): the rows as one JSON array of arrays (one parameter: psycopg's array
# adaptation cost more client CPU than the rest of the append; each payload travels as a JSON
# string, so ``->>`` gives back its exact canonical text), read as jsonb (parsed once: ``->>``
# on json lexes the element again for each field, 43 µs of server CPU per 4-event append
# against 10, measured), positions from the transaction id
# plus each row's index k, and the goal's index row. Appends to one stream are serialised by
# its unique version index: a stale head fails the insert and nothing is written.
#
# Parameters: $1 tenant, $2 stream, $3 recorded_at, $4 rows, $5 status, $6 created,
# $7 updated, $8 summary. Numbered, run by a RawCursor and always prepared: psycopg's
# conversion of named placeholders was a tenth of the client's time per append.
#
# The ``new_stream`` form is for a stream this process has no head of, guessing that it is
# new: it writes only if the stream has no event, and otherwise returns the stream's head
# instead, in the same round trip (no transaction id is taken, so nothing is flushed). A
# first append to a new stream then costs one round trip, not two (head, then insert), and a
# wrong guess costs what reading the head first did.
def _append_sql(*, new_stream: bool) -> bytes:
    head = only_new = ""
    result = "pg_current_xact_id()::text::bigint, NULL::int, NULL::text, NULL::text"
    if new_stream:
        head = (
            "h AS (SELECT stream_version, hash FROM omnihub_events "
            "WHERE tenant_id = $1 AND stream_id = $2 ORDER BY stream_version DESC LIMIT 1), "
        )
        only_new = " AND NOT EXISTS (SELECT FROM h)"
        result = (
            "CASE WHEN h.stream_version IS NULL THEN pg_current_xact_id()::text::bigint END, "
            "h.stream_version, h.hash, (SELECT summary FROM omnihub_goals "
            "WHERE tenant_id = $1 AND goal_id = $2 AND h.stream_version IS NOT NULL) "
            "FROM (SELECT 1) AS one LEFT JOIN h ON true"
        )
    sql = f"""
WITH {head}e AS (
    INSERT INTO omnihub_events ({", ".join(COLUMNS)})
    SELECT {_XID} + (r->>0)::int, $1::text, $2::text, (r->>1)::int, r->>2, r->>3,
        (r->>4)::int, r->>5, $3::text, r->>6, r->>7, r->>8, (r->>9)::json, r->>10, r->>11
    FROM jsonb_array_elements($4::jsonb) AS r
    WHERE true{only_new}
), g AS (
    INSERT INTO omnihub_goals
    SELECT $1::text, $2::text, $5::text,
        CASE WHEN $6::bigint < 0 THEN {_XID} - $6::bigint ELSE $6::bigint END,
        {_XID} + $7::bigint,
        CASE WHEN $6::bigint < 0
            THEN '{{"_position":' || ({_XID} - $6::bigint)::text
                || substr($8::text, {len(_NEW_GOAL) + 1})
            ELSE $8::text END
    WHERE $5::text IS NOT NULL{only_new}
    ON CONFLICT (tenant_id, goal_id) DO UPDATE SET status = excluded.status,
        updated_position = excluded.updated_position, summary = excluded.summary
)
SELECT {result}
"""
    return sql.encode()


_APPEND = _append_sql(new_stream=False)
_APPEND_NEW = _append_sql(new_stream=True)
_NO_HEAD = Head(0, None, None)


# Many goals' fold rows, in the order the goals are listed (their index, from 0), each goal's
# by version: one search of the stream version index per goal, whatever the planner thinks of
# the tenant's size. LATERAL alone did not ensure it: the planner pulled the plain subquery up
# into a join, and on a table without statistics yet (the first minute after a bulk load, before
# autovacuum's ANALYZE) hashed the tenant's every row for each query: 28 ms instead of 3 ms per
# 200 goals of a 100,000-event tenant (measured). The subquery's ORDER BY keeps it a subquery.
_FOLD_MANY = (
    "SELECT g.n - 1, e.stream_version, e.event_type, e.schema_version, e.occurred_at, "
    "e.payload FROM unnest(%s::text[]) WITH ORDINALITY AS g(id, n) CROSS JOIN LATERAL ("
    "SELECT stream_version, event_type, schema_version, occurred_at, payload::text "
    "FROM omnihub_events WHERE tenant_id = %s AND stream_id = g.id ORDER BY stream_version"
    ") AS e ORDER BY g.n, e.stream_version"
)
_VISIBLE = "global_position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)"


def _prefetched(fetch: Callable[[], list[_T]]) -> Iterator[list[_T]]:
    """The batches ``fetch`` returns until an empty one, fetched one ahead in a thread.

    psycopg waits for and parses the server's reply without the GIL, so the next batch
    arrives while the caller hashes this one: ``audit verify`` of 1 M events took 3.6 s
    instead of 5.3 s here. The connection is only touched by the thread until it is joined.
    """
    batches: queue.Queue[list[_T] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: list[_T] | BaseException | None) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                batches.put(item, timeout=0.1)
                return

    def produce() -> None:
        try:
            while not stop.is_set():
                rows = fetch()
                put(rows or None)
                if not rows:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)

    thread = threading.Thread(target=produce, name="omnihub-audit-fetch", daemon=True)
    thread.start()
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


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
        self._notifier = CommitNotifier(self._pool, CHANNEL)

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
        existing: dict[str, int] | None = None  # looked up once a unique index says so
        # Positions of new rows are -k here: the statement adds them to its transaction id
        # (see the module docstring).
        plan = functools.partial(
            self.plan_rows,
            tenant_id,
            stream_id,
            pending,
            expected_version=expected_version,
            position_of=operator.neg,
        )
        with (
            translate_errors(f"append to stream {stream_id!r}", self._pool),
            self._pool.connection() as conn,
        ):
            actual: Head | None = None  # a head an append found instead of writing
            for attempt in range(_RETRIES):
                cached = self._heads.get(tenant_id, stream_id)
                # A stream this process has not written yet: guess it is new (see
                # _append_sql), unless the caller expects events in it.
                guess = attempt == 0 and cached is None and not expected_version
                if cached is not None:
                    head = cached
                elif actual is not None:
                    head, actual = actual, None
                elif guess:
                    head = _NO_HEAD
                else:
                    head = self._read_head(conn, tenant_id, stream_id)
                try:
                    positions, rows = plan(head, existing=existing or {})
                except ConcurrencyError:
                    if cached is not None:
                        self._heads.drop(tenant_id, stream_id)  # maybe only stale here
                        continue
                    if existing is not None or not (keys or ids):
                        raise
                    existing = self._existing(conn, tenant_id, stream_id, keys, ids)
                    continue  # maybe a retried append: its events are there already
                if not rows:
                    return positions
                goal = self.goal_index_row(head.summary, pending, rows)
                try:
                    xid = self._append_rows(conn, tenant_id, stream_id, rows, goal, guess)
                except pg_errors.UniqueViolation as exc:
                    self._heads.drop(tenant_id, stream_id)
                    name = exc.diag.constraint_name
                    if name == "omnihub_events_stream_version":
                        # Another writer appended first: read the head again, after a short
                        # random pause that grows with each lost race. Without it, writers of
                        # one hot stream sharing a GIL lost 50 races in a row under load (a
                        # loser re-plans while the winners commit again).
                        time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                        continue
                    if keys or ids:
                        found = self._existing(conn, tenant_id, stream_id, keys, ids)
                        if found != (existing or {}):
                            existing = found
                            continue  # a duplicate event: plan without it
                    if name == "omnihub_events_event_id":
                        raise StoreError(
                            f"cannot append to stream {stream_id!r}: an event id is "
                            "already used by another stream"
                        ) from exc
                    if name != "omnihub_events_idempotency":
                        raise
                    # A duplicate key already known: the head was stale too; read it again.
                    continue
                if isinstance(xid, Head):
                    actual = xid  # the stream was not new: plan again on its head
                    continue
                base = xid << 16
                if goal is not None and goal.created_position < 0:
                    created = base - goal.created_position
                    goal = goal._replace(
                        created_position=created,
                        summary=f'{{"_position":{created}{goal.summary[len(_NEW_GOAL) :]}',
                    )
                self._heads.put(tenant_id, stream_id, self.head_after(head, rows, goal))
                self._notifier.committed(tenant_id)
                return [base - p if p < 0 else p for p in positions]
        raise StoreError(f"append to stream {stream_id!r} kept losing races; try again")

    @staticmethod
    def _read_head(conn: psycopg.Connection[Any], tenant_id: str, stream_id: str) -> Head:
        row = conn.execute(_HEAD, {"tenant": tenant_id, "stream": stream_id}).fetchone()
        assert row is not None  # the outer join always yields one row
        version, prev_hash, summary = row
        return Head(version or 0, prev_hash, summary)

    @staticmethod
    def _existing(
        conn: psycopg.Connection[Any],
        tenant_id: str,
        stream_id: str,
        keys: list[str],
        ids: list[str],
    ) -> dict[str, int]:
        params = {"tenant": tenant_id, "stream": stream_id, "keys": keys, "ids": ids}
        row = conn.execute(_EXISTING, params).fetchone()
        return dict(row[0]) if row else {}

    @staticmethod
    def _append_rows(
        conn: psycopg.Connection[Any],
        tenant_id: str,
        stream_id: str,
        rows: Sequence[tuple[object, ...]],
        goal: GoalIndexRow | None,
        new_stream: bool,
    ) -> int | Head:
        """Run :func:`_append_sql` (rows in COLUMNS order, positions -k); return the
        transaction id, or the stream's head if ``new_stream`` and the stream was not new."""
        try:
            # Every column but the position (sent as k), tenant, stream and recorded_at.
            packed = _dumps([(-cast(int, r[0]), *r[3:8], *r[9:15]) for r in rows]).decode()
        except orjson.JSONEncodeError as exc:  # a lone surrogate in an id or key
            raise ValidationError(f"cannot store this event: {exc}") from exc
        params = (
            tenant_id,
            stream_id,
            rows[0][8],  # one recorded_at per append (plan_rows)
            packed,
            *(
                (None, None, None, None)
                if goal is None
                else (goal.status, goal.created_position, -goal.updated_position, goal.summary)
            ),
        )
        cursor = psycopg.RawCursor(conn)
        row = cursor.execute(_APPEND_NEW if new_stream else _APPEND, params, prepare=True)
        result = row.fetchone()
        assert result is not None  # the final SELECT yields one row
        xid, version, prev_hash, summary = result
        if xid is None:
            return Head(version, prev_hash, summary)
        return int(xid)

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

    def _fold_rows_of(
        self, tenant_id: str, chunks: Sequence[Sequence[str]]
    ) -> Iterator[list[tuple[Any, ...]]]:
        self._check_open()
        remaining = iter(chunks)
        with (
            translate_errors("read goals", self._pool),
            self._pool.connection() as conn,
            # Binary: the versions arrive as integers, not text to parse.
            conn.cursor(binary=True) as cursor,
        ):

            def fetch() -> list[list[tuple[Any, ...]]]:
                # Wrapped in a list: a chunk of unknown goals has no rows, but is no end.
                chunk = next(remaining, None)
                if chunk is None:
                    return []
                return [cursor.execute(_FOLD_MANY, (list(chunk), tenant_id)).fetchall()]

            # The next goals' rows arrive while the caller folds these (see _prefetched).
            for (rows,) in _prefetched(fetch):
                yield rows

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

    def iter_chain_batches(
        self, tenant_id: str, *, after: int | None = None, upto: int | None = None
    ) -> Iterator[list[tuple[Any, ...]]]:
        self._check_open()
        with (
            translate_errors("read events", self._pool),
            self._pool.connection() as conn,
            conn.transaction(),
            # A server-side cursor: rows arrive in batches, never all in memory. Binary: the
            # integers need no parsing.
            conn.cursor(name="omnihub_audit", binary=True) as cursor,
        ):
            cursor.execute(
                f"SELECT {_CHAIN_SELECT} FROM omnihub_events WHERE tenant_id = %s"
                f"{chain_range_sql(after, upto, '%s')} ORDER BY global_position",
                (tenant_id, *(bound for bound in (after, upto) if bound is not None)),
            )
            yield from _prefetched(lambda: cursor.fetchmany(_CHAIN_BATCH))

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
            self._notifier.close()
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
