"""Contract tests of the API's admission stores, each written once and run on every backend
against a real server: idempotency records (SQLite, PostgreSQL), nonces and rate limits
(memory, Redis)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from omnihub.auth import (
    IdempotencyKeyReusedError,
    MemoryNonceStore,
    MemoryRateLimiter,
    NonceStore,
    PostgresIdempotencyStore,
    RateLimiter,
    RedisNonceStore,
    RedisRateLimiter,
    SqlIdempotencyStore,
    SQLiteIdempotencyStore,
    open_idempotency_store,
    open_nonce_store,
    open_rate_limiter,
    redis_client,
)
from omnihub.errors import ConfigurationError, StoreUnavailableError
from omnihub.servers import free_port


@pytest.fixture(params=["sqlite", "postgres"])
def idempotency_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def idempotency(idempotency_url: str) -> Iterator[SqlIdempotencyStore]:
    store = open_idempotency_store(idempotency_url)
    assert isinstance(store, SqlIdempotencyStore)
    yield store
    store.close()


def test_idempotency_factory_builds_each_backend(idempotency: SqlIdempotencyStore) -> None:
    assert isinstance(idempotency, SQLiteIdempotencyStore | PostgresIdempotencyStore)
    idempotency.ping()


def test_a_key_is_bound_to_the_first_goal_and_read_back(
    idempotency: SqlIdempotencyStore,
) -> None:
    assert idempotency.claim("t", "k", "h1", "g1") == ("g1", True)
    assert idempotency.claim("t", "k", "h1", "g2") == ("g1", False)
    with pytest.raises(IdempotencyKeyReusedError):
        idempotency.claim("t", "k", "h2", "g3")


def test_idempotency_keys_are_per_tenant(idempotency: SqlIdempotencyStore) -> None:
    assert idempotency.claim("a", "k", "h", "g1") == ("g1", True)
    assert idempotency.claim("b", "k", "h", "g2") == ("g2", True)


def test_idempotency_keys_expire_after_their_ttl(idempotency_url: str) -> None:
    store = open_idempotency_store(idempotency_url, ttl=timedelta(seconds=-1))
    try:
        assert store.claim("t", "k", "h1", "g1") == ("g1", True)
        # Already expired (negative TTL): the key is free again, even with another body.
        assert store.claim("t", "k", "h2", "g2") == ("g2", True)
    finally:
        store.close()


def test_concurrent_claims_through_separate_stores_bind_one_goal(idempotency_url: str) -> None:
    """Two API processes (two stores on one database) racing on one key: one goal wins."""
    stores = [open_idempotency_store(idempotency_url) for _ in range(2)]
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(8)

    def claim(index: int) -> None:
        barrier.wait()
        results.append(stores[index % 2].claim("t", "race", "h", f"goal-{index}"))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for store in stores:
            store.close()
    assert len(results) == 8
    assert len({goal for goal, _ in results}) == 1
    assert sum(new for _, new in results) == 1


@pytest.fixture
async def nonces(kv_url: str) -> AsyncIterator[NonceStore]:
    store = open_nonce_store(kv_url)
    assert isinstance(store, MemoryNonceStore if kv_url == "memory://" else RedisNonceStore)
    yield store
    await store.aclose()


async def test_a_nonce_is_new_once_within_its_ttl(nonces: NonceStore) -> None:
    await nonces.ping()
    assert await nonces.remember("key:n1", ttl_seconds=60)
    assert not await nonces.remember("key:n1", ttl_seconds=60)
    assert await nonces.remember("key:n2", ttl_seconds=60)


async def test_a_nonce_is_new_again_after_its_ttl(nonces: NonceStore) -> None:
    assert await nonces.remember("key:short", ttl_seconds=1)
    await asyncio.sleep(1.2)
    assert await nonces.remember("key:short", ttl_seconds=1)


async def test_redis_nonces_are_shared_between_processes(redis_url: str) -> None:
    first, second = open_nonce_store(redis_url), open_nonce_store(redis_url)
    try:
        assert await first.remember("key:shared", ttl_seconds=60)
        assert not await second.remember("key:shared", ttl_seconds=60)
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_nonces_fail_closed_when_redis_is_down() -> None:
    store = open_nonce_store(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(StoreUnavailableError):
            await store.remember("key:n", ttl_seconds=60)
    finally:
        await store.aclose()


@pytest.fixture
async def limiter(kv_url: str) -> AsyncIterator[RateLimiter]:
    built = open_rate_limiter(kv_url, rate=20.0, burst=2)
    assert isinstance(built, MemoryRateLimiter if kv_url == "memory://" else RedisRateLimiter)
    yield built
    await built.aclose()


async def test_a_bucket_limits_and_refills_at_its_rate(limiter: RateLimiter) -> None:
    await limiter.ping()
    results = [await limiter.acquire("t") for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert 0 < results[2].retry_after <= 0.05
    assert results[0].remaining == pytest.approx(1.0, abs=0.1)
    await asyncio.sleep(0.06)
    assert (await limiter.acquire("t")).allowed
    assert (await limiter.acquire("other")).allowed


async def test_redis_buckets_are_shared_between_processes(redis_url: str) -> None:
    first = open_rate_limiter(redis_url, rate=0.01, burst=1)
    second = open_rate_limiter(redis_url, rate=0.01, burst=1)
    try:
        assert (await first.acquire("t")).allowed
        assert not (await second.acquire("t")).allowed
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_bucket_allows_requests_when_redis_is_down() -> None:
    limiter = RedisRateLimiter(
        redis_client(f"redis://127.0.0.1:{free_port()}/0"), rate=1.0, burst=1
    )
    try:
        assert (await limiter.acquire("t")).allowed
        assert limiter.failures == 1
        with pytest.raises(StoreUnavailableError):
            await limiter.ping()
    finally:
        await limiter.aclose()


def test_factories_refuse_urls_of_the_wrong_kind() -> None:
    with pytest.raises(ConfigurationError, match="rate limiter URL"):
        open_rate_limiter("postgresql://127.0.0.1/db", rate=1.0, burst=1)
    with pytest.raises(ConfigurationError, match="nonce store URL"):
        open_nonce_store("sqlite:///x.db")
    with pytest.raises(ConfigurationError, match="idempotency store URL"):
        open_idempotency_store("redis://127.0.0.1")
    assert isinstance(open_nonce_store(None), MemoryNonceStore)
    assert isinstance(open_rate_limiter(None, rate=1.0, burst=1), MemoryRateLimiter)
