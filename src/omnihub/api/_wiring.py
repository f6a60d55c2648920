"""Builds the API's services from settings: the one place that knows every backend."""

from __future__ import annotations

from pathlib import Path

from omnihub.api._idempotency import IdempotencyStore
from omnihub.api._ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from omnihub.api._services import ApiServices
from omnihub.auth import (
    KeyStore,
    MemoryNonceStore,
    NonceStore,
    RedisNonceStore,
    open_key_store,
    redis_client,
)
from omnihub.config import Settings
from omnihub.errors import ConfigurationError


def sqlite_path(url: str) -> Path:
    """The file of an ``sqlite:///PATH`` URL."""
    if not url.startswith("sqlite:///"):
        raise ConfigurationError(f"unsupported URL {url!r}; use sqlite:///PATH")
    return Path(url.removeprefix("sqlite:///")).expanduser()


def open_rate_limiter(settings: Settings) -> RateLimiter:
    """In memory, or in Redis when ``api_redis_url`` is set."""
    rate, burst = settings.api_rate_limit_per_second, settings.api_rate_limit_burst
    if settings.api_redis_url:
        return RedisRateLimiter(redis_client(settings.api_redis_url), rate, burst)
    return MemoryRateLimiter(rate, burst)


def open_nonce_store(settings: Settings) -> NonceStore:
    """In memory, or in Redis when ``api_redis_url`` is set."""
    if settings.api_redis_url:
        return RedisNonceStore(redis_client(settings.api_redis_url))
    return MemoryNonceStore()


async def open_services(settings: Settings) -> ApiServices:
    """Every service the API uses, opened from ``settings``; close with ``aclose()``."""
    keys: KeyStore = open_key_store(settings.resolved_api_keys_url)
    idempotency = IdempotencyStore(sqlite_path(settings.resolved_api_keys_url))
    limiter = open_rate_limiter(settings)
    nonces = open_nonce_store(settings)
    services = ApiServices(keys=keys, rate_limiter=limiter, nonces=nonces, idempotency=idempotency)

    async def close_local() -> None:
        keys.close()
        idempotency.close()
        await limiter.aclose()
        await nonces.aclose()

    async def check_keys() -> None:
        keys.ping()

    services.closers.append(close_local)
    services.checks["keys"] = check_keys
    if settings.api_redis_url:
        services.checks["redis"] = limiter.ping
    return services
