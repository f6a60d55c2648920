"""Backend-specific behaviour: SQLite persistence and LRU in process; expiry, shared
single flight and degradation on real Redis."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from omnihub.cache import (
    CacheEntry,
    MemoryPlanIndex,
    PlanCache,
    RedisPlanIndex,
    distance_from_similarity,
    open_index,
    open_plan_cache,
    similarity_from_distance,
)
from omnihub.config import load_settings
from omnihub.embeddings import Embedder
from omnihub.errors import ConfigurationError, StoreError, StoreUnavailableError
from omnihub.servers import free_port

NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)
PAY = [{"tool": "pay_invoice", "args": {"payee": "ana@x.io", "amount": 11.0, "currency": "EUR"}}]


def test_embedded_index_survives_a_restart(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "cache.db"
    first = PlanCache(MemoryPlanIndex(path), embedder, version="v1")
    first.store("acme", "Pay the €11 bill from ana@x.io", PAY, now=NOW)
    first.close()
    second = PlanCache(MemoryPlanIndex(path), embedder, version="v1")
    result = second.lookup("acme", "Pay the $20 bill from ben@y.io", NOW)
    assert result.hit
    assert result.plan == [
        {"tool": "pay_invoice", "args": {"payee": "ben@y.io", "amount": 20.0, "currency": "USD"}}
    ]
    assert second.invalidate("acme") == 1
    second.close()
    assert MemoryPlanIndex(path).count("acme") == 0


def test_expired_rows_are_dropped_when_the_embedded_index_loads(
    tmp_path: Path, embedder: Embedder
) -> None:
    path = tmp_path / "cache.db"
    short = PlanCache(MemoryPlanIndex(path), embedder, version="v1", ttl_seconds=0.01)
    short.store("acme", "Pay the €11 bill from ana@x.io", PAY, now=NOW)
    short.close()
    time.sleep(0.05)
    assert MemoryPlanIndex(path).count("acme") == 0


def test_embedded_index_evicts_least_recently_used(embedder: Embedder) -> None:
    index = MemoryPlanIndex(max_entries=2)
    cache = PlanCache(index, embedder, version="v1")
    cache.store("acme", "Pay the €11 bill from ana@x.io", PAY, now=NOW)
    cache.store("acme", "Lock the account of ana@x.io", [{"tool": "lock", "args": {}}], now=NOW)
    assert cache.lookup("acme", "Pay the €12 bill from bo@x.io", NOW).hit  # now most recent
    cache.store("acme", "Unlock the account of ana@x.io", [{"tool": "unlock", "args": {}}], now=NOW)
    assert index.count("acme") == 2
    assert cache.lookup("acme", "Pay the €13 bill from cy@x.io", NOW).hit
    assert not cache.lookup("acme", "Lock the account of dee@x.io", NOW).hit


def test_embedded_graph_is_rebuilt_after_many_removals(
    make_entry: Callable[..., CacheEntry],
) -> None:
    index = MemoryPlanIndex(max_entries=10)
    vectors = np.random.default_rng(0).normal(size=(300, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = time.time()
    for vector in vectors:
        index.add(make_entry("acme", uuid.uuid4().hex), vector)
    assert index.count("acme") == 10
    found = index.search("acme", vectors[-1], 3, now)
    assert found[0].similarity == pytest.approx(1.0, abs=1e-4)


def test_unwritable_cache_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        MemoryPlanIndex(blocker / "cache.db")


def test_redis_entries_expire_at_an_absolute_time(redis_url: str, embedder: Embedder) -> None:
    index = RedisPlanIndex(redis_url, namespace="ttl")
    cache = PlanCache(index, embedder, version="v1", ttl_seconds=300)
    stored = cache.store("acme", "Pay the €11 bill from ana@x.io", PAY, now=NOW)
    client = redis.Redis.from_url(redis_url)
    key = f"ttl:e:{{{b'acme'.hex()}}}:{stored.entry_id}"  # hash-tagged tenant
    expire_ms = client.pexpiretime(key)
    assert abs(expire_ms / 1000 - (time.time() + 300)) < 5
    assert cache.lookup("acme", "Pay the €12 bill from bo@x.io", NOW).hit
    assert client.pexpiretime(key) == expire_ms  # a hit does not extend the lifetime
    index.drop()
    client.close()


def test_redis_single_flight_is_shared_by_workers(redis_url: str, embedder: Embedder) -> None:
    calls: list[int] = []

    def planner() -> Any:
        calls.append(1)
        time.sleep(0.4)
        return PAY

    workers = [
        PlanCache(RedisPlanIndex(redis_url, namespace="flight"), embedder, version="v1")
        for _ in range(3)
    ]
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda w=w: results.append(
                w.get_or_plan("acme", "Pay the €11 bill from ana@x.io", planner, now=NOW)
            )
        )
        for w in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert calls == [1]
    assert results == [PAY, PAY, PAY]


def test_redis_down_degrades_to_misses(embedder: Embedder) -> None:
    down = RedisPlanIndex(f"redis://127.0.0.1:{free_port('127.0.0.1')}/0", socket_timeout=0.2)
    cache = PlanCache(down, embedder, version="v1")
    result = cache.lookup("acme", "Pay the €11 bill from ana@x.io", NOW)
    assert (result.hit, result.reason) == (False, "unavailable")
    assert cache.store("acme", "Pay the €11 bill from ana@x.io", PAY, now=NOW).reason == (
        "unavailable"
    )
    assert cache.get_or_plan("acme", "Pay the €11 bill from ana@x.io", lambda: PAY, now=NOW) == PAY
    snapshot = cache.metrics.snapshot()
    assert snapshot["misses"]["unavailable"] == 2
    assert snapshot["errors"] >= 3
    with pytest.raises(StoreUnavailableError):
        down.count("acme")


def test_redis_command_errors_are_store_errors(redis_url: str) -> None:
    index = RedisPlanIndex(redis_url, namespace="broken")
    client = redis.Redis.from_url(redis_url)
    client.set(f"broken:e:{{{b'acme'.hex()}}}:x", "not a hash")
    with pytest.raises(StoreError):
        index.invalidate("acme", "pay")
    client.close()


def test_similarity_and_redis_distance_convert_in_one_place() -> None:
    assert distance_from_similarity(0.85) == pytest.approx(0.15)
    assert similarity_from_distance(distance_from_similarity(0.3)) == pytest.approx(0.3)


def test_factory_builds_backends_from_settings(redis_url: str, embedder: Embedder) -> None:
    settings = load_settings()
    cache = open_plan_cache(settings, version="v1", embedder=embedder)
    assert isinstance(cache.index, MemoryPlanIndex)
    assert cache.threshold == settings.cache_threshold
    cache.close()
    redis_settings = load_settings(cache_backend="redis", cache_redis_url=redis_url)
    assert isinstance(
        open_plan_cache(redis_settings, version="v1", embedder=embedder).index, RedisPlanIndex
    )
    with pytest.raises(ConfigurationError, match="OMNIHUB_CACHE_REDIS_URL"):
        open_index("redis")
    with pytest.raises(ConfigurationError, match="unknown plan cache backend"):
        open_index("sqlite")


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_reads_entries_written_without_the_packed_copy(
    redis_url: str, make_entry: Callable[..., CacheEntry], protocol: int
) -> None:
    """An entry written by an older release has only its fields (no ``entry`` field): a
    search and the exact path still return it whole, beside a packed one, on RESP2 and RESP3."""
    client = redis.Redis.from_url(redis_url, protocol=protocol)
    index = RedisPlanIndex(redis_url, namespace=f"old-{uuid.uuid4().hex[:8]}", client=client)
    old, new = make_entry("acme", "k"), make_entry("acme", "k")
    vector = np.zeros(384, dtype=np.float32)
    vector[0] = 1.0
    index.add(old, vector)
    index.add(new, vector)
    client.hdel(f"{index._prefix('acme')}{old.id}", "entry")
    assert client.hget(f"{index._prefix('acme')}{new.id}", "entry") is not None
    found = index.search("acme", vector, 5, time.time())
    assert sorted((c.entry for c in found), key=lambda e: e.id) == sorted(
        [old, new], key=lambda e: e.id
    )
    assert all(c.similarity == pytest.approx(1.0) for c in found)
    assert sorted(index.by_key("acme", "k", time.time()), key=lambda e: e.id) == sorted(
        [old, new], key=lambda e: e.id
    )
    index.drop()
    index.close()
