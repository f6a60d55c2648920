"""Audit: recompute every hash chain, and export events as verifiable JSON lines."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from omnihub import telemetry
from omnihub.errors import StoreError
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
    """Check stored rows (COLUMNS order), each stream's in version order (global order does):
    versions consecutive from 1, each ``prev_hash`` the previous event's hash, each ``hash``
    recomputed from the canonical event. ``first_break`` is the break with the lowest global
    position.

    Deleting events at the end of a stream leaves a valid (shorter) chain; compare exported
    stream heads with an earlier export to catch that.
    """
    report = _verify(records)[0]
    telemetry.record_audit(report.broken_streams)  # obs hook: every verification, whoever asks
    return report


def _verify(records: Iterable[Sequence[Any]]) -> tuple[VerifyReport, int]:
    """verify_records, and the global position of its first break (-1 if none)."""
    break_position = -1
    heads: dict[tuple[str, str], tuple[int, str]] = {}
    broken: set[tuple[str, str]] = set()
    first_break: ChainBreak | None = None
    events = 0
    sha256 = hashlib.sha256
    fromhex = bytes.fromhex
    for (
        position,
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
            if first_break is None or position < break_position:
                first_break = ChainBreak(tenant, stream, version, reason)
                break_position = position
            continue
        heads[key] = (version, stored_hash)
    report = VerifyReport(events, len(heads.keys() | broken), len(broken), first_break)
    return report, break_position


PARALLEL_STREAMS = 5000
"""From this many streams in a tenant on, ``verify_store`` checks them in several processes."""


def verify_store(
    store: EventStore, tenant_id: str | None = None, *, processes: int | None = None
) -> VerifyReport:
    """Recompute every chain of one tenant, or of every tenant when ``tenant_id`` is None.

    Chains are independent, so each tenant's streams are split into ``processes`` ranges
    checked in parallel, each read through one streaming cursor (by default one process per
    CPU once a tenant has :data:`PARALLEL_STREAMS` streams; hashing is CPU-bound and holds the
    GIL, hence processes, not threads).
    """
    tenants = [tenant_id] if tenant_id is not None else store.list_tenants()
    if not isinstance(store, BaseEventStore):  # pragma: no cover - every store here is one
        return verify_records(r for t in tenants for r in store.iter_records(t))
    jobs: list[tuple[str, str, str]] = []
    for tenant in tenants:
        streams = store.list_streams(tenant)
        count = processes or ((os.cpu_count() or 1) if len(streams) >= PARALLEL_STREAMS else 1)
        size = -(-len(streams) // max(count, 1)) or 1
        jobs += [
            (tenant, part[0], part[-1])
            for part in (streams[i : i + size] for i in range(0, len(streams), size))
        ]
    if processes == 1 or (processes is None and len(jobs) <= len(tenants)):
        results = [_verify(store.iter_stream_rows(*job)) for job in jobs]
    else:
        results = _in_processes(store.url, jobs)
    first = min(
        (r for r in results if r[0].first_break is not None), key=lambda r: r[1], default=None
    )
    report = VerifyReport(
        sum(r[0].events for r in results),
        sum(r[0].streams for r in results),
        sum(r[0].broken_streams for r in results),
        None if first is None else first[0].first_break,
    )
    telemetry.record_audit(report.broken_streams)  # obs hook: every verification, whoever asks
    return report


_WORKER = "from omnihub.events._audit import verify_worker; verify_worker()"


def _in_processes(url: str, jobs: list[tuple[str, str, str]]) -> list[tuple[VerifyReport, int]]:
    """Run each job in a fresh interpreter (not multiprocessing: spawn would re-run the
    caller's unguarded ``__main__``, and fork would copy a process holding pools and locks)."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in jobs
    ]
    results = []
    for worker, job in zip(workers, jobs, strict=True):
        out, err = worker.communicate(json.dumps([url, *job]).encode())
        if worker.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-1:]
            raise StoreError(f"audit worker for tenant {job[0]!r} failed: {tail}")
        found = json.loads(out)
        broken = found["first_break"]
        report = VerifyReport(
            found["events"],
            found["streams"],
            found["broken_streams"],
            None if broken is None else ChainBreak(**broken),
        )
        results.append((report, int(found["position"])))
    return results


def verify_worker() -> None:
    """Entry of one audit worker process: a job as JSON on stdin, its result on stdout."""
    from omnihub.events._factory import open_event_store

    url, tenant, first, last = json.loads(sys.stdin.read())
    with open_event_store(url) as store:
        report, position = _verify(
            cast(BaseEventStore, store).iter_stream_rows(tenant, first, last)
        )
    broken = report.first_break
    sys.stdout.write(
        json.dumps(
            {
                "events": report.events,
                "streams": report.streams,
                "broken_streams": report.broken_streams,
                "first_break": None if broken is None else dataclasses.asdict(broken),
                "position": position,
            }
        )
    )


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
