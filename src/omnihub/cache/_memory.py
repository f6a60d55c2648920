"""The embedded plan-cache index: one in-process HNSW graph (faiss ``IndexHNSWFlat``) per
tenant, persisted to SQLite so it survives restarts, with absolute TTLs and an LRU size cap per
tenant.

faiss-cpu was chosen over usearch and hnswlib by measurement (docs/benchmarks.md: 100,000
vectors, single-query p99 0.36 ms vs 0.84 ms and 1.14 ms, similar recall). Its HNSW graph
cannot delete, so expired, evicted and invalidated entries become tombstones (filtered out of
results) and a partition's graph is rebuilt from its live vectors once tombstones pass a
quarter of it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnihub.cache._index import ENTRY_FIELDS, CacheEntry, Candidate, Vector
from omnihub.errors import StoreError

CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 64
REBUILD_FRACTION = 0.25
REBUILD_MINIMUM = 256
BULK_THREADS = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plan_cache (
    label INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    template TEXT NOT NULL,
    signature TEXT NOT NULL,
    plan TEXT NOT NULL,
    version TEXT NOT NULL,
    tools TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    bound TEXT NOT NULL,
    planner_tokens TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS plan_cache_tenant ON plan_cache (tenant);
"""


@dataclass
class _Partition:
    """One tenant's graph and entries; ``lru`` orders labels from least to most recent."""

    graph: Any
    positions: list[int] = field(default_factory=list)  # graph position → label
    dead: int = 0
    entries: dict[int, CacheEntry] = field(default_factory=dict)
    by_key: dict[str, list[int]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    lru: OrderedDict[int, None] = field(default_factory=OrderedDict)


class MemoryPlanIndex:
    """HNSW in process; ``path=None`` keeps everything in memory (tests, benchmarks)."""

    def __init__(
        self, path: Path | str | None = None, *, dimensions: int = 384, max_entries: int = 100_000
    ) -> None:
        self._dimensions = dimensions
        self._max_entries = max_entries
        self._lock = threading.RLock()
        self._partitions: dict[str, _Partition] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._next_label = 1
        self._db: sqlite3.Connection | None = None
        if path is not None:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(path), check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(f"cannot open the plan cache at {path}: {exc}") from exc
            self._load()

    # -- persistence -----------------------------------------------------------------
    def _load(self) -> None:
        assert self._db is not None
        rows = self._db.execute(
            f"SELECT label, {', '.join(ENTRY_FIELDS)}, vector FROM plan_cache ORDER BY label"
        ).fetchall()
        now = time.time()
        expired: list[int] = []
        for row in rows:
            label = int(row[0])
            self._next_label = max(self._next_label, label + 1)
            entry = CacheEntry.from_row(dict(zip(ENTRY_FIELDS, row[1:-1], strict=True)))
            if entry.expires_at <= now:
                expired.append(label)
                continue
            self._insert(label, entry, np.frombuffer(row[-1], dtype=np.float32))
        self._delete_rows(expired)

    def _write(self, label: int, entry: CacheEntry, vector: Vector) -> None:
        if self._db is None:
            return
        row = entry.to_row()
        try:
            with self._db:
                self._db.execute(
                    f"INSERT INTO plan_cache (label, {', '.join(ENTRY_FIELDS)}, vector) "
                    f"VALUES (?, {', '.join('?' for _ in ENTRY_FIELDS)}, ?)",
                    (label, *(row[c] for c in ENTRY_FIELDS), vector.astype(np.float32).tobytes()),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the plan cache: {exc}") from exc

    def _delete_rows(self, labels: list[int]) -> None:
        if self._db is None or not labels:
            return
        try:
            with self._db:
                self._db.executemany(
                    "DELETE FROM plan_cache WHERE label = ?", [(label,) for label in labels]
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot delete from the plan cache: {exc}") from exc

    # -- in-memory structures --------------------------------------------------------
    def _graph(self) -> Any:
        import faiss

        faiss.omp_set_num_threads(1)  # one query at a time: threads only add overhead
        graph = faiss.IndexHNSWFlat(self._dimensions, CONNECTIVITY, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = EXPANSION_ADD
        graph.hnsw.efSearch = EXPANSION_SEARCH
        return graph

    def _partition(self, tenant: str) -> _Partition:
        partition = self._partitions.get(tenant)
        if partition is None:
            partition = self._partitions[tenant] = _Partition(self._graph())
        return partition

    def _index_entry(self, partition: _Partition, label: int, entry: CacheEntry) -> None:
        partition.positions.append(label)
        partition.entries[label] = entry
        partition.by_key.setdefault(entry.key, []).append(label)
        partition.ids[entry.id] = label
        partition.lru[label] = None

    def _insert(self, label: int, entry: CacheEntry, vector: Vector) -> None:
        partition = self._partition(entry.tenant)
        partition.graph.add(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        self._index_entry(partition, label, entry)

    def _remove(self, tenant: str, labels: list[int]) -> None:
        partition = self._partitions[tenant]
        for label in labels:
            entry = partition.entries.pop(label)
            partition.dead += 1
            partition.lru.pop(label, None)
            partition.ids.pop(entry.id, None)
            self._failures.pop((tenant, entry.id), None)
            keyed = partition.by_key[entry.key]
            keyed.remove(label)
            if not keyed:
                del partition.by_key[entry.key]
        self._delete_rows(labels)
        total = len(partition.positions)
        if partition.dead >= max(REBUILD_MINIMUM, REBUILD_FRACTION * total):
            self._rebuild(partition)

    def _rebuild(self, partition: _Partition) -> None:
        """A fresh graph from the live vectors (faiss HNSW cannot delete)."""
        total = len(partition.positions)
        vectors = partition.graph.reconstruct_n(0, total) if total else None
        keep = [i for i, label in enumerate(partition.positions) if label in partition.entries]
        partition.graph = self._graph()
        if keep and vectors is not None:
            partition.graph.add(np.ascontiguousarray(vectors[keep]))
        partition.positions = [partition.positions[i] for i in keep]
        partition.dead = 0

    def _expire(self, tenant: str, labels: list[int]) -> None:
        if labels:
            self._remove(tenant, labels)

    # -- PlanIndex -------------------------------------------------------------------
    def add(self, entry: CacheEntry, vector: Vector) -> None:
        with self._lock:
            label = self._next_label
            self._next_label += 1
            self._write(label, entry, vector)
            self._insert(label, entry, vector)
            partition = self._partitions[entry.tenant]
            overflow = len(partition.entries) - self._max_entries
            if overflow > 0:
                self._remove(entry.tenant, list(partition.lru)[:overflow])

    def add_many(self, entries: list[CacheEntry], vectors: Vector) -> None:
        """Bulk load without persistence (benchmarks): one batched graph insertion."""
        with self._lock:
            labels = np.arange(self._next_label, self._next_label + len(entries), dtype=np.int64)
            self._next_label += len(entries)
            by_tenant: dict[str, list[int]] = {}
            for index, entry in enumerate(entries):
                by_tenant.setdefault(entry.tenant, []).append(index)
            import faiss

            faiss.omp_set_num_threads(BULK_THREADS)  # building in bulk does use threads
            try:
                for tenant, indexes in sorted(by_tenant.items()):
                    partition = self._partition(tenant)
                    faiss.omp_set_num_threads(BULK_THREADS)
                    partition.graph.add(np.ascontiguousarray(vectors[indexes], dtype=np.float32))
                    for index in indexes:
                        self._index_entry(partition, int(labels[index]), entries[index])
            finally:
                faiss.omp_set_num_threads(1)

    def search(self, tenant: str, vector: Vector, k: int, now: float) -> list[Candidate]:
        with self._lock:
            partition = self._partitions.get(tenant)
            if partition is None or not partition.entries:
                return []
            wanted = min(len(partition.positions), k + min(partition.dead, 3 * k))
            query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
            scores, positions = partition.graph.search(query, wanted)
            out: list[Candidate] = []
            expired: list[int] = []
            for score, position in zip(scores[0], positions[0], strict=True):
                if position < 0:
                    continue
                label = partition.positions[int(position)]
                entry = partition.entries.get(label)
                if entry is None:
                    continue  # tombstone
                if entry.expires_at <= now:
                    expired.append(label)
                    continue
                out.append(Candidate(entry, float(score)))  # inner product = cosine similarity
                if len(out) == k:
                    break
            self._expire(tenant, expired)
            return out

    def by_key(self, tenant: str, key: str, now: float) -> list[CacheEntry]:
        with self._lock:
            partition = self._partitions.get(tenant)
            if partition is None:
                return []
            labels = list(partition.by_key.get(key, ()))
            expired = [lb for lb in labels if partition.entries[lb].expires_at <= now]
            self._expire(tenant, expired)
            return [partition.entries[lb] for lb in labels if lb not in expired]

    def by_key_and_search(
        self, tenant: str, key: str, vector: Vector, k: int, now: float
    ) -> tuple[list[CacheEntry], list[Candidate] | None]:
        # In process nothing is saved by doing both: search only when no exact entry exists.
        exact = self.by_key(tenant, key, now)
        return exact, None if exact else self.search(tenant, vector, k, now)

    def touch(self, tenant: str, entry_id: str) -> None:
        with self._lock:
            partition = self._partitions.get(tenant)
            if partition is None:
                return
            label = partition.ids.get(entry_id)
            if label is not None:
                partition.lru.move_to_end(label)

    def invalidate(self, tenant: str, tool: str | None = None) -> int:
        with self._lock:
            partition = self._partitions.get(tenant)
            if partition is None:
                return 0
            labels = sorted(
                label
                for label, entry in partition.entries.items()
                if tool is None or tool in entry.tools
            )
            self._remove(tenant, labels)
            return len(labels)

    def remove(self, tenant: str, entry_id: str) -> bool:
        with self._lock:
            partition = self._partitions.get(tenant)
            label = None if partition is None else partition.ids.get(entry_id)
            if label is None:
                return False
            self._remove(tenant, [label])
            return True

    def record_failure(self, tenant: str, entry_id: str) -> int:
        # In memory only: a restart forgives past failures (the entry is still evicted after
        # N failures within one process's life).
        with self._lock:
            partition = self._partitions.get(tenant)
            if partition is None or entry_id not in partition.ids:
                return 0
            count = self._failures.get((tenant, entry_id), 0) + 1
            self._failures[(tenant, entry_id)] = count
            return count

    def count(self, tenant: str) -> int:
        with self._lock:
            partition = self._partitions.get(tenant)
            return 0 if partition is None else len(partition.entries)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
