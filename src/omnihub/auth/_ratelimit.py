"""Per-tenant rate limits: a token bucket in memory (one process) or in Redis (shared).

Each tenant has a bucket of ``burst`` tokens refilled at ``rate`` tokens per second; a request
takes one. An empty bucket answers with the seconds until a token is back (Retry-After).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from omnihub.auth._storage import ping_redis, redis_client
from omnihub.config import parse_backend_url

if TYPE_CHECKING:
    import redis.asyncio

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateDecision:
    """The outcome of taking a token: allowed, or how long to wait before retrying."""

    allowed: bool
    retry_after: float
    remaining: float


class RateLimiter(Protocol):
    """Token buckets keyed by tenant."""

    rate: float
    burst: int

    async def acquire(self, tenant_id: str, cost: float = 1.0) -> RateDecision:
        """Take ``cost`` tokens from the tenant's bucket if it has them."""
        ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


def _take(
    tokens: float, elapsed: float, rate: float, burst: int, cost: float
) -> tuple[float, RateDecision]:
    tokens = min(float(burst), tokens + max(0.0, elapsed) * rate)
    if tokens >= cost:
        tokens -= cost
        return tokens, RateDecision(True, 0.0, tokens)
    return tokens, RateDecision(False, (cost - tokens) / rate, tokens)


class MemoryRateLimiter:
    """Buckets in a dict; exact for one API process."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, tenant_id: str, cost: float = 1.0) -> RateDecision:
        now = time.monotonic()
        tokens, last = self._buckets.get(tenant_id, (float(self.burst), now))
        tokens, decision = _take(tokens, now - last, self.rate, self.burst, cost)
        self._buckets[tenant_id] = (tokens, now)
        return decision

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._buckets.clear()


# One atomic step on the server, timed by the Redis clock so API processes on different hosts
# agree. Numbers go back as strings: Redis truncates Lua numbers to integers.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(retry), tostring(tokens)}
"""


class RedisRateLimiter:
    """Buckets as Redis hashes updated by one Lua script, shared by every API process.

    If Redis cannot be reached the request is allowed (logged and counted in ``failures``):
    a rate limiter outage must not take the API down with it.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        rate: float,
        burst: int,
        prefix: str = "omnihub:ratelimit:",
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.failures = 0
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_BUCKET_SCRIPT)

    async def acquire(self, tenant_id: str, cost: float = 1.0) -> RateDecision:
        import redis.exceptions

        try:
            allowed, retry, tokens = await self._script(
                keys=[self._prefix + tenant_id], args=[self.rate, self.burst, cost]
            )
        except redis.exceptions.RedisError as exc:
            self.failures += 1
            logger.warning("rate limiter unavailable, allowing the request: %s", exc)
            return RateDecision(True, 0.0, float(self.burst))
        return RateDecision(bool(allowed), float(retry), float(tokens))

    async def ping(self) -> None:
        await ping_redis(self._client)

    async def aclose(self) -> None:
        await self._client.aclose()


def open_rate_limiter(url: str | None, rate: float, burst: int) -> RateLimiter:
    """The rate limiter ``url`` names: ``memory://`` (or None: exact for one process) or
    ``redis://`` / ``rediss://`` (shared by every API process; the URL reaches the Redis client
    unchanged). ``rate`` tokens per second refill buckets of ``burst`` tokens."""
    if url is None:
        return MemoryRateLimiter(rate, burst)
    backend = parse_backend_url(url, allowed=("memory", "redis"), purpose="rate limiter URL")
    if backend.kind == "memory":
        return MemoryRateLimiter(rate, burst)
    return RedisRateLimiter(redis_client(url), rate, burst)
