"""Seen-nonce stores for replay protection: in memory (one process) or in Redis (shared)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from omnihub.auth._storage import ping_redis, redis_client
from omnihub.config import parse_backend_url
from omnihub.errors import StoreUnavailableError

if TYPE_CHECKING:
    import redis.asyncio


class NonceStore(Protocol):
    """Remembers nonces for a while; answers whether one is new."""

    async def remember(self, nonce: str, ttl_seconds: int) -> bool:
        """Record ``nonce``; True when it was not seen in the last ``ttl_seconds``."""
        ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


class MemoryNonceStore:
    """Nonces in a dict with expiry times; expired ones are swept as new ones arrive."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._next_sweep = 0.0

    async def remember(self, nonce: str, ttl_seconds: int) -> bool:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._seen = {n: exp for n, exp in self._seen.items() if exp > now}
            self._next_sweep = now + 1.0
        expiry = self._seen.get(nonce)
        if expiry is not None and expiry > now:
            return False
        self._seen[nonce] = now + ttl_seconds
        return True

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._seen.clear()


class RedisNonceStore:
    """Nonces as Redis keys set with ``SET NX EX``, shared by every API process.

    When Redis cannot be reached the request is refused (StoreUnavailableError): replay
    protection fails closed.
    """

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "omnihub:nonce:") -> None:
        self._client = client
        self._prefix = prefix

    async def remember(self, nonce: str, ttl_seconds: int) -> bool:
        import redis.exceptions

        try:
            created = await self._client.set(self._prefix + nonce, b"1", nx=True, ex=ttl_seconds)
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(f"nonce store (Redis) unavailable: {exc}") from exc
        return bool(created)

    async def ping(self) -> None:
        await ping_redis(self._client)

    async def aclose(self) -> None:
        await self._client.aclose()


def open_nonce_store(url: str | None = None) -> NonceStore:
    """The nonce store ``url`` names: ``memory://`` (or None: this process only) or
    ``redis://`` / ``rediss://`` (shared; the URL reaches the Redis client unchanged)."""
    if url is None:
        return MemoryNonceStore()
    backend = parse_backend_url(url, allowed=("memory", "redis"), purpose="nonce store URL")
    if backend.kind == "memory":
        return MemoryNonceStore()
    return RedisNonceStore(redis_client(url))
