"""Audit: recompute every hash chain, and export events as verifiable JSON lines."""

from __future__ import annotations

import hashlib
import json
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


def _opt(value: str | None) -> str:
    return "null" if value is None else str(_encode(value))


def verify_records(records: Iterable[Sequence[Any]]) -> VerifyReport:
    """Check stored rows (COLUMNS order) given in global order: versions consecutive from 1,
    each ``prev_hash`` the previous event's hash, each ``hash`` recomputed from the canonical
    event.

    Deleting events at the end of a stream leaves a valid (shorter) chain; compare exported
    stream heads with an earlier export to catch that.
    """
    heads: dict[tuple[str, str], tuple[int, str]] = {}
    broken: set[tuple[str, str]] = set()
    first_break: ChainBreak | None = None
    events = 0
    sha256 = hashlib.sha256
    fromhex = bytes.fromhex
    for (
        _,
        tenant,
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
    ) in records:
        events += 1
        key = (tenant, stream)
        if key in broken:
            continue
        last_version, last_hash = heads.get(key, (0, GENESIS_HASH))
        reason = None
        if version != last_version + 1:
            reason = f"expected version {last_version + 1}, found {version} (events missing)"
        elif prev_hash != last_hash:
            reason = "prev_hash does not match the previous event's hash"
        else:
            text = (
                '{"causation_id":'
                + ("null" if causation_id is None else _encode(causation_id))
                + ',"correlation_id":'
                + ("null" if correlation_id is None else _encode(correlation_id))
                + ',"event_id":'
                + _encode(event_id)
                + ',"event_type":'
                + _encode(event_type)
                + ',"idempotency_key":'
                + ("null" if idempotency_key is None else _encode(idempotency_key))
                + ',"occurred_at":'
                + _encode(occurred_at)
                + ',"payload":'
                + payload
                + ',"recorded_at":'
                + _encode(recorded_at)
                + f',"schema_version":{schema_version},"stream_id":'
                + _encode(stream)
                + f',"stream_version":{version},"tenant_id":'
                + _encode(tenant)
                + "}"
            )
            if sha256(fromhex(last_hash) + text.encode()).hexdigest() != stored_hash:
                reason = "hash does not match the event's content (tampered)"
        if reason is not None:
            broken.add(key)
            if first_break is None:
                first_break = ChainBreak(tenant, stream, version, reason)
            continue
        heads[key] = (version, stored_hash)
    telemetry.record_audit(len(broken))  # obs hook: every verification, whoever asks
    return VerifyReport(events, len(heads.keys() | broken), len(broken), first_break)


def verify_store(store: EventStore, tenant_id: str | None = None) -> VerifyReport:
    """Recompute every chain of one tenant, or of every tenant when ``tenant_id`` is None."""
    tenants = [tenant_id] if tenant_id is not None else store.list_tenants()

    def records() -> Iterator[Sequence[Any]]:
        for tenant in tenants:
            if isinstance(store, BaseEventStore):
                for rows in store.iter_row_batches(tenant):
                    yield from rows
            else:  # pragma: no cover - every store in this package is a BaseEventStore
                yield from store.iter_records(tenant)

    return verify_records(records())


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
