"""Audit: recompute every hash chain, and export events as verifiable JSON lines."""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omnihub import telemetry
from omnihub.errors import StoreError
from omnihub.events._canonical import GENESIS_HASH, event_canonical_json
from omnihub.events._store import BaseEventStore, EventStore, StoredRecord

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

__all__ = ["ChainBreak", "VerifyReport", "export_jsonl", "verify_records", "verify_store"]

_encode = json.encoder.encode_basestring


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where a stream's chain first fails, and why."""

    tenant_id: str
    stream_id: str
    stream_version: int
    reason: str

    def __str__(self) -> str:
        return (
            f"tenant {self.tenant_id!r}, stream {self.stream_id!r}, "
            f"version {self.stream_version}: {self.reason}"
        )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :func:`verify_store`: counts, and the first break in global order."""

    events: int
    streams: int
    broken_streams: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def verify_records(records: Iterable[Sequence[Any]]) -> VerifyReport:
    """Check stored rows (COLUMNS order), each stream's in version order (global order does):
    versions consecutive from 1, each ``prev_hash`` the previous event's hash, each ``hash``
    recomputed from the canonical event. ``first_break`` is the break with the lowest global
    position.

    Deleting events at the end of a stream leaves a valid (shorter) chain; compare exported
    stream heads with an earlier export to catch that.
    """
    checks: dict[str, _TenantCheck] = {}
    for tenant, rows in itertools.groupby(records, key=operator.itemgetter(1)):
        check = checks.get(tenant) or checks.setdefault(tenant, _TenantCheck(tenant))
        check.feed([(row[0], *row[2:]) for row in rows])
    return _report(checks.values())


def verify_store(
    store: EventStore, tenant_id: str | None = None, *, processes: int = 1
) -> VerifyReport:
    """Recompute every chain of one tenant, or of every tenant when ``tenant_id`` is None.

    One streaming scan per tenant in global order, hashed as it arrives. With ``processes``
    above 1, a store that allows it (SQLite) has each long tenant's scan split by position
    across that many processes, forked from this one: each range is checked on its own, with
    its streams' first links left open, and the ranges are then joined in order (`audit
    verify` of 1,000,000 events: 4.9 s with one process, 3.0 s with two, on two cores at load
    3). The report is the same either way.
    """
    tenants = [tenant_id] if tenant_id is not None else store.list_tenants()
    checks = []
    for tenant in tenants:
        if not isinstance(store, BaseEventStore):  # pragma: no cover - every store here is one
            check = _TenantCheck(tenant)
            check.feed([(r[0], *r[2:]) for r in store.iter_records(tenant)])
        else:
            check = _check_tenant(store, tenant, processes)
        checks.append(check)
    return _report(checks)


# A range below this many positions is not worth a process (forking and joining cost ~10 ms).
_MIN_PART = 50_000


def _check_tenant(
    store: BaseEventStore, tenant: str, processes: int, *, min_part: int = _MIN_PART
) -> _TenantCheck:
    ranges = _ranges(store, tenant, processes, min_part)
    if len(ranges) == 1:
        return _check_range(store, tenant, None, None)
    import multiprocessing  # only here: ~20 ms of imports a single scan does not need

    context = multiprocessing.get_context("fork")
    children = []
    for after, upto in ranges[1:]:
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_check_range_in_child,
            args=(store, tenant, after, upto, send),
            name=f"omnihub-verify-{after}",
            daemon=True,
        )
        child.start()
        send.close()
        children.append((child, receive))
    done = False
    try:
        check = _check_range(store, tenant, *ranges[0])
        for child, receive in children:
            check.join(_result_of(child, receive))
        done = True
    finally:
        for child, receive in children:
            receive.close()
            if not done:  # a range failed: the others' results are not wanted
                child.kill()
            child.join()
    return check


def _ranges(
    store: BaseEventStore, tenant: str, processes: int, min_part: int
) -> list[tuple[int | None, int | None]]:
    """Position ranges ``(after, upto]`` to check, one per process, in order; one unbounded
    range when the scan is not split."""
    bounds = store.chain_bounds(tenant) if processes > 1 else None
    # Forking is safe only from a process whose one thread holds no lock: another thread
    # might hold a Python lock, or an SQLite transaction whose file-lock bookkeeping the
    # child would inherit without the lock. With one thread and no statement open here (the
    # bounds query is done), each child opens its own connection and takes real locks. The
    # command line has one thread; a server has more, and scans in one process.
    if bounds is None or threading.active_count() > 1:
        return [(None, None)]
    low, high = bounds
    parts = min(processes, (high - low + 1) // min_part)
    if parts < 2 or not hasattr(os, "fork"):
        return [(None, None)]
    cuts = [low - 1 + (high - low + 1) * k // parts for k in range(1, parts)]
    # The first range has no lower bound (nothing below the tenant's first position is
    # missed) and the last ends at its last position as seen here: events are only ever
    # appended, at higher positions, so the ranges together hold one consistent set of rows.
    return list(zip([None, *cuts], [*cuts, high], strict=True))


def _check_range(
    store: BaseEventStore, tenant: str, after: int | None, upto: int | None
) -> _TenantCheck:
    check = _TenantCheck(tenant, open_start=after is not None)
    for rows in store.iter_chain_batches(tenant, after=after, upto=upto):
        check.feed(rows)
    return check


def _check_range_in_child(
    store: BaseEventStore,
    tenant: str,
    after: int | None,
    upto: int | None,
    send: Connection,
) -> None:
    """A forked child's work: check one range, send the result (or the error) back."""
    try:
        send.send(_check_range(store, tenant, after, upto))
    except BaseException as exc:
        send.send(StoreError(f"audit verify of positions after {after}: {exc}"))
    finally:
        send.close()


def _result_of(child: BaseProcess, receive: Connection) -> _TenantCheck:
    try:
        result = receive.recv()
    except EOFError:
        child.join()
        raise StoreError(
            f"audit verify: a scanning process ended with status {child.exitcode}"
        ) from None
    if isinstance(result, BaseException):
        raise result
    if not isinstance(result, _TenantCheck):  # pragma: no cover - the child sends only these
        raise StoreError(f"audit verify: unexpected result {type(result).__name__}")
    return result


def _report(checks: Iterable[_TenantCheck]) -> VerifyReport:
    checks = list(checks)
    broken = [c.first_break for c in checks if c.breaks]
    first = min(broken, key=operator.itemgetter(0), default=None)
    report = VerifyReport(
        sum(c.events for c in checks),
        sum(len(c.heads) for c in checks),
        sum(len(c.breaks) for c in checks),
        None if first is None else first[1],
    )
    telemetry.record_audit(report.broken_streams)  # obs hook: every verification, whoever asks
    return report


_REASONS = {
    "missing": "expected version {expected}, found {version} (events missing)",
    "unlinked": "prev_hash does not match the previous event's hash",
    "tampered": "hash does not match the event's content (tampered)",
}


class _TenantCheck:
    """The chains of one tenant, fed its rows (CHAIN_COLUMNS order) in global order.

    Tamper evidence: each event's hash is ``sha256(prev_hash || canonical event)``, and the
    canonical event (:func:`~omnihub.events._canonical.event_canonical_json`, rebuilt here
    inline: this loop is the whole cost of ``audit verify``) holds every stored column but
    ``global_position``, ``prev_hash`` and ``hash``, each written as its exact stored value:
    strings JSON-escaped, integers in decimal, the payload as the canonical text it was
    stored as (never parsed, so never re-canonicalised into agreement). So a changed column
    changes the bytes hashed and the recomputed hash, barring a SHA-256 collision; a value of
    another type (possible in SQLite) fails to encode or prints differently. A changed
    ``hash`` fails its own check, or else the next event's ``prev_hash`` link; a changed
    ``prev_hash`` fails the link; deleted, inserted or reordered events break the run of
    versions 1, 2, 3… that the scan expects. Only ``global_position`` is outside the chains:
    it orders events across streams, not within one.

    ``open_start``: the rows begin mid-tenant (a later range of a split scan). A stream's
    first row here is taken on trust as linking to what came before (its hash is still
    checked), and kept in ``anchors``; :meth:`join` checks that link against the earlier
    range's head of the stream.
    """

    __slots__ = ("anchors", "breaks", "events", "heads", "open_start", "tenant")

    def __init__(self, tenant: str, *, open_start: bool = False) -> None:
        self.tenant = tenant
        self.open_start = open_start
        # Each stream's last verified (version, hash); None once the stream is broken (its
        # later events are counted, not checked: one break per stream is reported).
        self.heads: dict[str, tuple[int, str] | None] = {}
        # Each broken stream's break: (global position, ChainBreak).
        self.breaks: dict[str, tuple[int, ChainBreak]] = {}
        # open_start: each stream's first row here, (position, version, prev_hash).
        self.anchors: dict[str, tuple[int, Any, Any]] = {}
        self.events = 0

    @property
    def first_break(self) -> tuple[int, ChainBreak]:
        """The break with the lowest global position (of a check with breaks)."""
        return min(self.breaks.values(), key=operator.itemgetter(0))

    def feed(self, rows: Sequence[Sequence[Any]]) -> None:
        self.events += len(rows)
        heads = self.heads
        if self.open_start:
            anchors = self.anchors
            for row in rows:
                if row[1] not in heads:  # (position, stream, version, …, prev_hash, hash)
                    version = row[2]
                    anchors[row[1]] = (row[0], version, row[12])
                    # A version that is no integer breaks the link anyway (join says so).
                    heads[row[1]] = (version - 1, row[12]) if type(version) is int else None
        get = heads.get
        encode = _encode
        sha256 = hashlib.sha256
        fromhex = bytes.fromhex
        genesis = (0, GENESIS_HASH)
        tail = f',"tenant_id":{encode(self.tenant)}}}'
        for (
            position,
            stream,
            version,
            event_id,
            event_type,
            schema_version,
            occurred_at,
            recorded_at,
            correlation_id,
            causation_id,
            idempotency_key,
            payload,
            prev_hash,
            stored_hash,
        ) in rows:
            head = get(stream, genesis)
            if head is None:
                continue
            if version != head[0] + 1:
                self._break(position, stream, version, head, "missing")
                continue
            if prev_hash != head[1]:
                self._break(position, stream, version, head, "unlinked")
                continue
            try:
                text = (
                    '{"causation_id":'
                    f"{'null' if causation_id is None else encode(causation_id)}"
                    ',"correlation_id":'
                    f"{'null' if correlation_id is None else encode(correlation_id)}"
                    f',"event_id":{encode(event_id)},"event_type":{encode(event_type)}'
                    ',"idempotency_key":'
                    f"{'null' if idempotency_key is None else encode(idempotency_key)}"
                    f',"occurred_at":{encode(occurred_at)},"payload":{payload}'
                    f',"recorded_at":{encode(recorded_at)},"schema_version":{schema_version}'
                    f',"stream_id":{encode(stream)},"stream_version":{version}{tail}'
                )
                intact = sha256(fromhex(prev_hash) + text.encode()).hexdigest() == stored_hash
            except (TypeError, UnicodeEncodeError):  # a value of another type, a lone surrogate
                intact = False
            if not intact:
                self._break(position, stream, version, head, "tampered")
                continue
            heads[stream] = (version, stored_hash)

    def join(self, later: _TenantCheck) -> None:
        """Append the check of the next range (``open_start``) to this one: each stream's
        first row there must link to its head here, as if the rows had been fed here."""
        self.events += later.events
        heads = self.heads
        genesis = (0, GENESIS_HASH)
        for stream, (position, version, prev_hash) in later.anchors.items():
            head = heads.get(stream, genesis)
            if head is None:  # broken here already: its later events are counted, not checked
                continue
            if version != head[0] + 1:
                self._break(position, stream, version, head, "missing")
            elif prev_hash != head[1]:
                self._break(position, stream, version, head, "unlinked")
            else:
                heads[stream] = later.heads[stream]
                if stream in later.breaks:
                    self.breaks[stream] = later.breaks[stream]

    def _break(
        self, position: int, stream: str, version: int, head: tuple[int, str], kind: str
    ) -> None:
        self.heads[stream] = None
        reason = _REASONS[kind].format(expected=head[0] + 1, version=version)
        self.breaks[stream] = (position, ChainBreak(self.tenant, stream, version, reason))


def export_line(record: StoredRecord) -> str:
    """One canonical JSON line: the hashed ``event`` exactly as chained, plus its position and
    hashes, so anyone can recompute ``sha256(prev_hash || event)`` from the export alone."""
    event = event_canonical_json(
        causation_id=record.causation_id,
        correlation_id=record.correlation_id,
        event_id=record.event_id,
        event_type=record.event_type,
        idempotency_key=record.idempotency_key,
        occurred_at=record.occurred_at,
        payload_json=record.payload,
        recorded_at=record.recorded_at,
        schema_version=record.schema_version,
        stream_id=record.stream_id,
        stream_version=record.stream_version,
        tenant_id=record.tenant_id,
    )
    return (
        f'{{"event":{event},"global_position":{record.global_position},'
        f'"hash":{_encode(record.hash)},"prev_hash":{_encode(record.prev_hash)}}}'
    )


def export_jsonl(store: EventStore, tenant_id: str | None = None) -> Iterator[str]:
    """Stream every event (one tenant, or all) as JSON lines, in global order per tenant."""
    tenants = [tenant_id] if tenant_id is not None else store.list_tenants()
    for tenant in tenants:
        for record in store.iter_records(tenant):
            yield export_line(record)
