"""The API's stateful parts (keys, idempotency records, nonces, rate limits), each built by
one small function from the settings: the one place that chooses their backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnihub.auth import KeyStore, MemoryNonceStore, NonceStore, RedisNonceStore, redis_client
from omnihub.auth import open_key_store as _open_key_store
from omnihub.config import Settings

if TYPE_CHECKING:
    from omnihub.api._idempotency import IdempotencyStore
    from omnihub.api._ratelimit import RateLimiter


def open_key_store(settings: Settings) -> KeyStore:
    """API keys at ``api_keys_url``."""
    return _open_key_store(settings.resolved_api_keys_url)


def open_idempotency_store(settings: Settings) -> IdempotencyStore:
    """Idempotency records next to the API keys."""
    from omnihub.api._idempotency import IdempotencyStore
    from omnihub.events._sqlite import sqlite_path

    return IdempotencyStore(sqlite_path(settings.resolved_api_keys_url))


def open_rate_limiter(settings: Settings) -> RateLimiter:
    """In memory, or in Redis when ``api_redis_url`` is set."""
    from omnihub.api._ratelimit import MemoryRateLimiter, RedisRateLimiter

    rate, burst = settings.api_rate_limit_per_second, settings.api_rate_limit_burst
    if settings.api_redis_url:
        return RedisRateLimiter(redis_client(settings.api_redis_url), rate, burst)
    return MemoryRateLimiter(rate, burst)


def open_nonce_store(settings: Settings) -> NonceStore:
    """In memory, or in Redis when ``api_redis_url`` is set."""
    if settings.api_redis_url:
        return RedisNonceStore(redis_client(settings.api_redis_url))
    return MemoryNonceStore()
