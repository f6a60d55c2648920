"""Audit: recompute every hash chain, and export events as verifiable JSON lines."""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from omnihub import telemetry
from omnihub.events._canonical import GENESIS_HASH, event_canonical_json
from omnihub.events._store import BaseEventStore, EventStore, StoredRecord

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


def verify_store(store: EventStore, tenant_id: str | None = None) -> VerifyReport:
    """Recompute every chain of one tenant, or of every tenant when ``tenant_id`` is None.

    One streaming scan per tenant in global order, hashed as it arrives: a million events
    take seconds in one process, so the scan is not split (extra processes did not pay on two
    cores, and they would cost a snapshot per part).
    """
    tenants = [tenant_id] if tenant_id is not None else store.list_tenants()
    checks = []
    for tenant in tenants:
        check = _TenantCheck(tenant)
        if isinstance(store, BaseEventStore):
            for rows in store.iter_chain_batches(tenant):
                check.feed(rows)
        else:  # pragma: no cover - every store here is a BaseEventStore
            check.feed([(r[0], *r[2:]) for r in store.iter_records(tenant)])
        checks.append(check)
    return _report(checks)


def _report(checks: Iterable[_TenantCheck]) -> VerifyReport:
    checks = list(checks)
    broken = [c for c in checks if c.first_break is not None]
    first = min(broken, key=lambda c: c.break_position, default=None)
    report = VerifyReport(
        sum(c.events for c in checks),
        sum(len(c.heads) for c in checks),
        sum(c.broken_streams for c in checks),
        None if first is None else first.first_break,
    )
    telemetry.record_audit(report.broken_streams)  # obs hook: every verification, whoever asks
    return report


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
    """

    __slots__ = ("break_position", "broken_streams", "events", "first_break", "heads", "tenant")

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        # Each stream's last verified (version, hash); None once the stream is broken (its
        # later events are counted, not checked: one break per stream is reported).
        self.heads: dict[str, tuple[int, str] | None] = {}
        self.events = 0
        self.broken_streams = 0
        self.first_break: ChainBreak | None = None
        self.break_position = -1

    def feed(self, rows: Sequence[Sequence[Any]]) -> None:
        self.events += len(rows)
        heads = self.heads
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

    def _break(
        self, position: int, stream: str, version: int, head: tuple[int, str], kind: str
    ) -> None:
        self.heads[stream] = None
        self.broken_streams += 1
        if self.first_break is None:  # rows arrive in global order: the first is the lowest
            reason = {
                "missing": f"expected version {head[0] + 1}, found {version} (events missing)",
                "unlinked": "prev_hash does not match the previous event's hash",
                "tampered": "hash does not match the event's content (tampered)",
            }[kind]
            self.first_break = ChainBreak(self.tenant, stream, version, reason)
            self.break_position = position


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
