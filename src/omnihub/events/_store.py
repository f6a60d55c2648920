"""The event store interface and the backend-independent half of every append and read.

Backends (:mod:`._sqlite`, :mod:`._postgres`) only run SQL; validation, canonical payload
JSON, idempotency, optimistic concurrency and the hash chain are computed here, once, so both
backends store byte-identical events.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self, runtime_checkable

from omnihub import telemetry
from omnihub.errors import ConcurrencyError, PayloadTooLargeError, ValidationError
from omnihub.events._canonical import (
    GENESIS_HASH,
    event_canonical_json_writer,
    payload_canonical_json,
)
from omnihub.events._envelope import EventEnvelope, NewEvent
from omnihub.events._goal_index import (
    GoalIndexRow,
    IndexedGoal,
    payload_decoder,
    rebuild_rows,
    summarize_rows,
)
from omnihub.events._ids import format_timestamp, new_event_id
from omnihub.events._projection import GoalFold, GoalState
from omnihub.events._registry import EventRegistry, default_registry
from omnihub.events._subscription import Subscription, Waiter

__all__ = [
    "CHAIN_COLUMNS",
    "COLUMNS",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "GOALS_PER_QUERY",
    "MAX_BATCH",
    "BaseEventStore",
    "EventStore",
    "Head",
    "HeadCache",
    "Pending",
    "StoredRecord",
]

DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
GOALS_PER_QUERY = 200
"""Most goals :meth:`BaseEventStore.goal_states` folds from one query (bounds its parameter)."""
MAX_BATCH = 65_535
"""Most events one append may carry (PostgreSQL positions reserve 16 bits per transaction)."""
MAX_ID_LENGTH = 200

COLUMNS = (
    "global_position",
    "tenant_id",
    "stream_id",
    "stream_version",
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "correlation_id",
    "causation_id",
    "idempotency_key",
    "payload",
    "prev_hash",
    "hash",
)
"""The stored columns, in the order every backend reads and writes them."""
CHAIN_COLUMNS = tuple(c for c in COLUMNS if c != "tenant_id")
"""What ``audit verify`` reads per row: every column but the tenant, which the scan fixes."""


class StoredRecord(NamedTuple):
    """One stored row exactly as written (payload as its canonical JSON text)."""

    global_position: int
    tenant_id: str
    stream_id: str
    stream_version: int
    event_id: str
    event_type: str
    schema_version: int
    occurred_at: str
    recorded_at: str
    correlation_id: str | None
    causation_id: str | None
    idempotency_key: str | None
    payload: str
    prev_hash: str
    hash: str


@runtime_checkable
class EventStore(Protocol):
    """An append-only, tenant-scoped, hash-chained event store. Every method is synchronous
    and thread-safe; build one with :func:`~omnihub.events.open_event_store`."""

    url: str

    def append(
        self,
        tenant_id: str,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: int | None = None,
    ) -> list[int]:
        """Append ``events`` atomically; return their global positions, in order.

        An event whose idempotency key (or explicit event id) already exists in the stream is
        not stored again: its existing position is returned. If any event is new and
        ``expected_version`` is given but differs from the stream's version, ConcurrencyError
        (with ``actual_version``) is raised and nothing is written.
        """
        ...

    def read_stream(
        self, tenant_id: str, stream_id: str, from_version: int = 1
    ) -> list[EventEnvelope]:
        """The stream's events from ``from_version`` on, upcast to current payload versions."""
        ...

    def stream_version(self, tenant_id: str, stream_id: str) -> int:
        """The stream's last version (0 for an empty or unknown stream)."""
        ...

    def read_all(
        self, tenant_id: str, from_position: int = 0, limit: int = 1000
    ) -> list[EventEnvelope]:
        """Up to ``limit`` of the tenant's events with positions above ``from_position``, in
        global order. A reader that continues from the last position it saw never skips an
        event that commits later."""
        ...

    def goal_state(self, tenant_id: str, goal_id: str) -> GoalState:
        """The goal's :class:`GoalState`: what :func:`~omnihub.events.project_goal` gives
        for its stream, folded from the stored rows without building envelopes."""
        ...

    def goal_states(self, tenant_id: str, goal_ids: Iterable[str]) -> Iterator[GoalState]:
        """The :class:`GoalState` of each of ``goal_ids``, in their order: what
        :meth:`goal_state` gives for each, from one query per many goals instead of one round
        trip per goal. Lazy: states are folded as the caller iterates (before closing the
        store)."""
        ...

    def list_streams(self, tenant_id: str) -> list[str]:
        """The tenant's stream ids, sorted."""
        ...

    def list_tenants(self) -> list[str]:
        """Every tenant with events (for operators: audit verify and export)."""
        ...

    def list_goals(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[IndexedGoal]:
        """The tenant's goals from the goal index, newest first (by the position of their
        first event), optionally with one status and only those created before ``before``."""
        ...

    def iter_records(
        self, tenant_id: str, from_position: int = 0, batch_size: int = 5000
    ) -> Iterator[StoredRecord]:
        """The tenant's rows exactly as stored, in global order (for audit and export)."""
        ...

    def subscribe(
        self, tenant_id: str, from_position: int = 0, *, poll_interval: float = 1.0
    ) -> Subscription:
        """Catch up from ``from_position``, then follow new events as they commit."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> EventStore: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Pending(NamedTuple):
    """An event validated and serialised outside the write transaction."""

    event_type: str
    schema_version: int
    payload_json: str
    event_id: str
    explicit_id: bool
    occurred_at: str
    correlation_id: str | None
    causation_id: str | None
    idempotency_key: str | None
    payload: object = None  # the payload model, for the goal index


class Head(NamedTuple):
    """A stream's head as an append needs it: last version and hash, goal summary JSON."""

    version: int
    hash: str | None
    summary: str | None


class HeadCache:
    """Stream heads this process wrote last, so the next append to the same stream (a saga
    appends to its goal's stream again and again) skips reading them.

    Only a hint: every backend writes under a unique ``(tenant, stream, version)`` index, so a
    stale head makes the insert fail and the append read the real head and retry; the SQLite
    store also drops it all as soon as another connection commits. Bounded, oldest out first.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._heads: dict[tuple[str, str], Head] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str, stream_id: str) -> Head | None:
        return self._heads.get((tenant_id, stream_id))

    def put(self, tenant_id: str, stream_id: str, head: Head) -> None:
        heads = self._heads
        key = (tenant_id, stream_id)
        with self._lock:
            heads.pop(key, None)
            if len(heads) >= self._size:
                del heads[next(iter(heads))]
            heads[key] = head

    def drop(self, tenant_id: str, stream_id: str) -> None:
        self._heads.pop((tenant_id, stream_id), None)

    def clear(self) -> None:
        self._heads.clear()


# One set shared by every read envelope: model_copy copies it before adding to it (a
# frozenset made model_copy(update=...) fail), and frozen envelopes never add to it.
_ENVELOPE_FIELDS = set(EventEnvelope.model_fields)
# Payload class -> the set of its field names, shared by the payloads read whose fields were
# all set (as stored payloads' are): see BaseEventStore.envelopes.
_PAYLOAD_FIELDS: dict[type[Any], set[str]] = {}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_from_iso = datetime.fromisoformat  # the inverse of format_timestamp
_set = object.__setattr__
_sha256 = hashlib.sha256  # chain_hash, inlined in plan_rows
_second: tuple[int, str] = (-1, "")  # (Unix second, its text): utc_now's cache


def check_id(kind: str, value: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{kind} must be a non-empty string of at most {MAX_ID_LENGTH}")


def chain_range_sql(after: int | None, upto: int | None, mark: str) -> str:
    """The ``AND global_position …`` conditions of :meth:`BaseEventStore.iter_chain_batches`
    (``mark``: the driver's placeholder), one per bound given: no bound, no condition."""
    return (" AND global_position > " + mark if after is not None else "") + (
        " AND global_position <= " + mark if upto is not None else ""
    )


def utc_now() -> str:
    """Now, as :func:`~omnihub.events._ids.format_timestamp` writes it.

    The date and time of day are formatted once per second and reused (every append takes
    two timestamps; formatting a datetime each time was about 4 % of an append's CPU).
    """
    global _second  # one tuple, swapped whole: safe across threads
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    cached = _second
    if cached[0] != seconds:
        text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached = _second = (seconds, text)
    return f"{cached[1]}.{nanos // 1000:06d}Z"


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause automatic garbage collection for a block that builds objects which all outlive it.

    Every object a read batch builds stays reachable from the list returned, so a collection
    its allocations trigger midway can free none of them: it only walks them, and a full one
    (about every hundredth) walks the whole heap as well. Those passes were 40 % of a
    read-all's time (1,000-event batches: 2 full collections of about 50 ms in 30,000 events;
    read-all about 65 % faster paused, measured on both backends). The allocations still
    count: the first one after the block starts the collection that was due. Left as found
    when the collector was already off (by the application, or by another thread inside such
    a block, which then turns it back on).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class BaseEventStore:
    """Shared logic of the backends: preparing, chaining and decoding events."""

    url: str
    goals_per_query = GOALS_PER_QUERY
    """Most goals :meth:`goal_states` folds from one query (bounds the query's parameter)."""

    def __init__(self, url: str, *, max_payload_bytes: int, registry: EventRegistry | None) -> None:
        if max_payload_bytes < 1:
            raise ValidationError("max_payload_bytes must be positive")
        self.url = url
        self.max_payload_bytes = max_payload_bytes
        self.registry = registry or default_registry

    # -- the backend's part ------------------------------------------------------------------

    def _write(
        self,
        tenant_id: str,
        stream_id: str,
        pending: Sequence[Pending],
        expected_version: int | None,
    ) -> list[int]:
        """Run one append transaction (with :meth:`plan_rows`); return the positions."""
        raise NotImplementedError

    def _rows_after(self, tenant_id: str, from_position: int, limit: int) -> list[tuple[Any, ...]]:
        """Stored rows (COLUMNS order) of the tenant after ``from_position``, in global order."""
        raise NotImplementedError

    def iter_chain_batches(
        self, tenant_id: str, *, after: int | None = None, upto: int | None = None
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Every stored row of the tenant (CHAIN_COLUMNS order) in global order, in large
        batches from one streaming cursor: what ``audit verify`` recomputes, nothing more.
        ``after`` and ``upto``, when given, bound the positions read: ``after < position <=
        upto``."""
        raise NotImplementedError

    def chain_bounds(self, tenant_id: str) -> tuple[int, int] | None:
        """The tenant's lowest and highest global position (None: no events), when a forked
        child process may call :meth:`iter_chain_batches` on this object (each call opens its
        own connection, sharing nothing with the parent), so ``audit verify`` can split a long
        scan by position across processes; None where it may not."""
        return None

    def _fold_rows(self, tenant_id: str, stream_id: str) -> list[tuple[Any, ...]]:
        """``(stream_version, event_type, schema_version, occurred_at, payload)`` of the
        stream's rows, by version: all a goal's fold reads."""
        raise NotImplementedError

    def _fold_rows_of(
        self, tenant_id: str, chunks: Sequence[Sequence[str]]
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Per chunk of stream ids, one query's ``(index, stream_version, event_type,
        schema_version, occurred_at, payload)`` rows of those streams, ordered by the stream's
        index in the chunk (from 0), then by version."""
        raise NotImplementedError

    def _waiter(self) -> Waiter:
        """What a new subscription waits on for commits."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- appending -------------------------------------------------------------------------

    def append(
        self,
        tenant_id: str,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: int | None = None,
    ) -> list[int]:
        """See :meth:`EventStore.append`."""
        check_id("tenant_id", tenant_id)
        check_id("stream_id", stream_id)
        if expected_version is not None and expected_version < 0:
            raise ValidationError("expected_version must be >= 0")
        began = time.perf_counter()
        pending = self.prepare(stream_id, events)
        if not pending:
            return []
        positions = self._write(tenant_id, stream_id, pending, expected_version)
        telemetry.record_append(time.perf_counter() - began, len(pending))  # obs hook
        return positions

    def prepare(self, stream_id: str, events: Sequence[NewEvent]) -> list[Pending]:
        """Validate and serialise events (no I/O): typed errors before anything is written."""
        if len(events) > MAX_BATCH:
            raise ValidationError(f"one append takes at most {MAX_BATCH} events")
        now = utc_now()
        limit = self.max_payload_bytes
        key_of = self.registry.key_of
        pending: list[Pending] = []
        for event in events:
            if type(event) is not NewEvent and not isinstance(event, NewEvent):
                raise ValidationError(f"append takes NewEvent objects, not {type(event).__name__}")
            payload = event.payload
            event_type, version = key_of(payload)
            payload_json = payload_canonical_json(payload)
            if len(payload_json) * 4 > limit:
                size = len(payload_json.encode("utf-8"))
                if size > limit:
                    raise PayloadTooLargeError(size, limit)
            event_id = event.event_id
            occurred_at = event.occurred_at
            correlation_id = event.correlation_id
            pending.append(
                Pending(
                    event_type,
                    version,
                    payload_json,
                    event_id or new_event_id(),
                    event_id is not None,
                    now if occurred_at is None else format_timestamp(occurred_at),
                    stream_id if correlation_id is None else correlation_id,
                    event.causation_id,
                    event.idempotency_key,
                    payload,
                )
            )
        return pending

    @staticmethod
    def goal_index_row(
        previous: str | None, pending: Sequence[Pending], rows: Sequence[Sequence[Any]]
    ) -> GoalIndexRow | None:
        """The stream's goal-index row after appending ``rows`` (built from ``pending``)."""
        if len(rows) == len(pending):  # no duplicate: row k is event k
            return summarize_rows(previous, rows, [p.payload for p in pending])
        by_id = {p.event_id: p.payload for p in pending}
        return summarize_rows(previous, rows, [by_id[row[4]] for row in rows])

    @staticmethod
    def head_after(head: Head, rows: Sequence[Sequence[Any]], goal: GoalIndexRow | None) -> Head:
        """The stream's head once ``rows`` (COLUMNS order) and ``goal`` are committed."""
        if not rows:
            return head
        last = rows[-1]
        return Head(int(last[3]), str(last[14]), head.summary if goal is None else goal.summary)

    @staticmethod
    def goal_index_query(
        tenant_id: str, status: str | None, limit: int, before: int | None, mark: str
    ) -> tuple[str, list[Any]]:
        """The SQL (with ``mark`` as parameter placeholder) and parameters of ``list_goals``."""
        # event_count and updated_at come from the stream's last event (see _goal_index).
        last = (
            "FROM omnihub_events AS e WHERE e.tenant_id = g.tenant_id AND e.stream_id = g.goal_id "
            "ORDER BY e.stream_version DESC LIMIT 1"
        )
        query = (
            f"SELECT g.created_position, g.summary, (SELECT e.stream_version {last}), "
            f"(SELECT e.occurred_at {last}) FROM omnihub_goals AS g WHERE g.tenant_id = {mark}"
        )
        params: list[Any] = [tenant_id]
        if status is not None:
            query += f" AND g.status = {mark}"
            params.append(status)
        if before is not None:
            query += f" AND g.created_position < {mark}"
            params.append(before)
        params.append(limit)
        return query + f" ORDER BY g.created_position DESC LIMIT {mark}", params

    def rebuild_goal_index(self, tenant_rows: Sequence[Sequence[Any]]) -> list[GoalIndexRow]:
        """Index rows folded from stored rows (for events written before the index existed)."""
        return rebuild_rows(tenant_rows, payload_decoder(self.registry.decode))

    @staticmethod
    def lookup_keys(pending: Sequence[Pending]) -> tuple[list[str], list[str]]:
        """Idempotency keys and explicit event ids to look up in the stream before writing."""
        keys = [p.idempotency_key for p in pending if p.idempotency_key is not None]
        ids = [p.event_id for p in pending if p.explicit_id]
        return keys, ids

    @staticmethod
    def plan_rows(
        tenant_id: str,
        stream_id: str,
        pending: Sequence[Pending],
        head: Head,
        *,
        expected_version: int | None,
        existing: dict[str, int],
        position_of: Callable[[int], int],
    ) -> tuple[list[int], list[tuple[object, ...]]]:
        """Decide what to write: skip duplicates, check the version, chain the hashes.

        ``existing`` maps ``"k:" + idempotency key`` and ``"i:" + event id`` of events already
        in the stream to their positions. ``position_of(k)`` is the global position of the
        k-th new row (k >= 1).
        Returns the positions for every pending event and the rows to insert (in COLUMNS order).
        """
        positions: list[int] = []
        rows: list[tuple[object, ...]] = []
        seen = dict(existing)
        recorded_at = utc_now()
        version = head.version
        event_json = event_canonical_json_writer(recorded_at, stream_id, tenant_id)
        chain = head.hash or GENESIS_HASH
        # The chain as raw digests too: chain_hash's result, without a hex round trip per event.
        raw = bytes.fromhex(chain)
        for p in pending:
            key = p.idempotency_key
            duplicate = None
            if key is not None:
                duplicate = seen.get("k:" + key)
            if duplicate is None and p.explicit_id:
                duplicate = seen.get("i:" + p.event_id)
            if duplicate is not None:
                positions.append(duplicate)
                continue
            if not rows and expected_version is not None and expected_version != version:
                raise ConcurrencyError(stream_id, expected_version, version)
            version += 1
            position = position_of(len(rows) + 1)
            digest = _sha256(raw)
            digest.update(
                event_json(
                    p.causation_id,
                    p.correlation_id,
                    p.event_id,
                    p.event_type,
                    key,
                    p.occurred_at,
                    p.payload_json,
                    p.schema_version,
                    version,
                ).encode("utf-8")
            )
            raw = digest.digest()
            hashed = raw.hex()
            rows.append(
                (
                    position,
                    tenant_id,
                    stream_id,
                    version,
                    p.event_id,
                    p.event_type,
                    p.schema_version,
                    p.occurred_at,
                    recorded_at,
                    p.correlation_id,
                    p.causation_id,
                    key,
                    p.payload_json,
                    chain,
                    hashed,
                )
            )
            chain = hashed
            positions.append(position)
            if key is not None:
                seen["k:" + key] = position
            if p.explicit_id:
                seen["i:" + p.event_id] = position
        return positions, rows

    # -- reading ---------------------------------------------------------------------------

    def read_all(
        self, tenant_id: str, from_position: int = 0, limit: int = 1000
    ) -> list[EventEnvelope]:
        """See :meth:`EventStore.read_all`."""
        return self.envelopes(self._rows_after(tenant_id, from_position, limit))

    def goal_state(self, tenant_id: str, goal_id: str) -> GoalState:
        """See :meth:`EventStore.goal_state`.

        Five of the fifteen columns and no envelopes, through the same :class:`GoalFold`: a
        quarter less time per event than ``project_goal(read_stream(...))`` (156k against
        115k events/s on SQLite, measured).
        """
        fold = GoalFold()
        decode = self.registry.decode
        for version, event_type, schema_version, occurred_at, payload_json in self._fold_rows(
            tenant_id, goal_id
        ):
            payload = decode(event_type, schema_version, payload_json)[0]
            fold.apply(payload, _from_iso(occurred_at), goal_id, tenant_id, version)
        return fold.goal_state(goal_id)

    def goal_states(self, tenant_id: str, goal_ids: Iterable[str]) -> Iterator[GoalState]:
        """See :meth:`EventStore.goal_states`.

        The same fold as :meth:`goal_state`, over the rows of :attr:`goals_per_query` goals
        per query, ordered by goal and version: one round trip per goal cost about 160 µs on
        PostgreSQL, more than folding its twelve events. Each state is yielded before the next
        goal is folded (the query orders rows as the goals were asked for), so few are alive
        at once: holding every state of 8,000 goals made the garbage collector's full passes
        cost more than the fold (measured).
        """
        check_id("tenant_id", tenant_id)
        size = self.goals_per_query
        ids = list(goal_ids)
        chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
        return self._goal_states(tenant_id, chunks)

    def _goal_states(self, tenant_id: str, chunks: list[list[str]]) -> Iterator[GoalState]:
        decode = self.registry.decode
        for chunk, rows in zip(chunks, self._fold_rows_of(tenant_id, chunks), strict=True):
            current = -1  # the index in chunk of the goal being folded
            goal_id = ""
            fold = GoalFold()
            for index, version, event_type, schema_version, occurred_at, data in rows:
                if index != current:
                    if current >= 0:
                        yield fold.goal_state(goal_id)
                    for empty in chunk[current + 1 : index]:  # goals without events
                        yield GoalFold().goal_state(empty)
                    current, goal_id, fold = index, chunk[index], GoalFold()
                payload = decode(event_type, schema_version, data)[0]
                fold.apply(payload, _from_iso(occurred_at), goal_id, tenant_id, version)
            if current >= 0:
                yield fold.goal_state(goal_id)
            for empty in chunk[current + 1 :]:
                yield GoalFold().goal_state(empty)

    def iter_records(
        self, tenant_id: str, from_position: int = 0, batch_size: int = 5000
    ) -> Iterator[StoredRecord]:
        """See :meth:`EventStore.iter_records`."""
        make = StoredRecord._make
        for rows in self.iter_row_batches(tenant_id, from_position, batch_size):
            yield from map(make, rows)

    def iter_row_batches(
        self, tenant_id: str, from_position: int = 0, batch_size: int = 5000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Like :meth:`iter_records`, as batches of plain tuples (for the audit's hot loop)."""
        position = from_position
        while rows := self._rows_after(tenant_id, position, batch_size):
            yield rows
            position = int(rows[-1][0])

    def subscribe(
        self, tenant_id: str, from_position: int = 0, *, poll_interval: float = 1.0
    ) -> Subscription:
        """See :meth:`EventStore.subscribe`."""
        check_id("tenant_id", tenant_id)
        return Subscription(
            lambda position, limit: self.read_all(tenant_id, position, limit),
            from_position,
            self._waiter(),
            poll_interval=poll_interval,
        )

    def envelope(self, row: Sequence[Any]) -> EventEnvelope:
        """The envelope of one stored row (see :meth:`envelopes`)."""
        return self.envelopes((row,))[0]

    def envelopes(self, rows: Iterable[Sequence[Any]]) -> list[EventEnvelope]:
        """Build the envelopes of stored rows (COLUMNS order), upcasting payloads to their
        current versions.

        Without re-validation: what ``model_construct`` does, minus its per-field default
        handling, which makes reading several times faster; a test checks the result equals
        a validated envelope. The row's integrity is what ``audit verify`` checks. One loop
        for a whole batch, its names bound once (7 % less time per event than a method call
        per row, measured).

        A payload whose fields were all set (every stored payload written by this code) gets
        its class's one shared fields-set instead of a set of its own, as envelopes do: one
        object less per event for the garbage collector, whose passes over the batch took
        about as long as building it (read-all 10-20 % faster, measured).

        The automatic garbage collector is paused while the batch is built (see
        :func:`_collector_paused`).
        """
        with _collector_paused():
            return self._envelopes(rows)

    def _envelopes(self, rows: Iterable[Sequence[Any]]) -> list[EventEnvelope]:
        decode = self.registry.decode
        new = EventEnvelope.__new__
        fields = _ENVELOPE_FIELDS
        payload_fields = _PAYLOAD_FIELDS
        built: list[EventEnvelope] = []
        # The events of one append share recorded_at (and often occurred_at): parse each
        # timestamp text once per run of equal ones (datetimes are immutable).
        occurred_text = recorded_text = ""
        occurred = recorded = _EPOCH
        for (
            position,
            tenant_id,
            stream_id,
            stream_version,
            event_id,
            event_type,
            schema_version,
            occurred_at,
            recorded_at,
            correlation_id,
            causation_id,
            idempotency_key,
            payload_json,
            prev_hash,
            digest,
        ) in rows:
            payload, version = decode(event_type, schema_version, payload_json)
            kind = type(payload)
            shared = payload_fields.get(kind)
            if shared is None:
                shared = payload_fields[kind] = set(kind.model_fields)
            if payload.__pydantic_fields_set__ == shared:
                _set(payload, "__pydantic_fields_set__", shared)
            if occurred_at != occurred_text:
                occurred_text, occurred = occurred_at, _from_iso(occurred_at)
            if recorded_at != recorded_text:
                recorded_text, recorded = recorded_at, _from_iso(recorded_at)
            envelope = new(EventEnvelope)
            _set(
                envelope,
                "__dict__",
                {
                    "event_id": event_id,
                    "stream_id": stream_id,
                    "stream_version": stream_version,
                    "global_position": position,
                    "tenant_id": tenant_id,
                    "correlation_id": correlation_id,
                    "causation_id": causation_id,
                    "event_type": event_type,
                    "schema_version": version,
                    "occurred_at": occurred,
                    "recorded_at": recorded,
                    "idempotency_key": idempotency_key,
                    "payload": payload,
                    "prev_hash": prev_hash,
                    "hash": digest,
                },
            )
            _set(envelope, "__pydantic_fields_set__", fields)
            _set(envelope, "__pydantic_extra__", None)
            _set(envelope, "__pydantic_private__", None)
            built.append(envelope)
        return built

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
