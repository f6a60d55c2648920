from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from omnihub.api import (
    IdempotencyKeyReusedError,
    IdempotencyStore,
    MemoryRateLimiter,
    RedisRateLimiter,
)
from omnihub.auth import redis_client
from omnihub.errors import StoreUnavailableError
from omnihub.servers import free_port


async def test_memory_bucket_refills_at_its_rate() -> None:
    limiter = MemoryRateLimiter(rate=20.0, burst=2)
    assert [(await limiter.acquire("t")).allowed for _ in range(3)] == [True, True, False]
    denied = await limiter.acquire("t")
    assert 0 < denied.retry_after <= 0.05
    await asyncio.sleep(0.06)
    assert (await limiter.acquire("t")).allowed
    await limiter.ping()
    await limiter.aclose()


async def test_redis_bucket_limits_and_refills(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_client(redis_url), rate=20.0, burst=2)
    try:
        await limiter.ping()
        results = [await limiter.acquire("t") for _ in range(3)]
        assert [r.allowed for r in results] == [True, True, False]
        assert 0 < results[2].retry_after <= 0.05
        assert results[0].remaining == pytest.approx(1.0, abs=0.1)
        await asyncio.sleep(0.06)
        assert (await limiter.acquire("t")).allowed
        assert (await limiter.acquire("other")).allowed
    finally:
        await limiter.aclose()


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


def test_idempotency_keys_expire_after_their_ttl(tmp_path: Path) -> None:
    store = IdempotencyStore(tmp_path / "api.db", ttl=timedelta(seconds=-1))
    try:
        assert store.claim("t", "k", "h1", "g1") == ("g1", True)
        # Already expired (negative TTL): the key is free again, even with another body.
        assert store.claim("t", "k", "h2", "g2") == ("g2", True)
    finally:
        store.close()


def test_idempotency_key_with_another_body_is_refused(tmp_path: Path) -> None:
    store = IdempotencyStore(tmp_path / "api.db")
    try:
        assert store.claim("t", "k", "h1", "g1") == ("g1", True)
        assert store.claim("t", "k", "h1", "g2") == ("g1", False)
        with pytest.raises(IdempotencyKeyReusedError):
            store.claim("t", "k", "h2", "g3")
    finally:
        store.close()
