"""Throttles in front of authentication: failed sign-ins per client address, with backoff,
kept in memory (one process) or in Redis (lockouts shared by every API process), and request
tokens per key within the tenant's budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from omnihub.auth._storage import ping_redis, redis_client
from omnihub.config import parse_backend_url
from omnihub.errors import RateLimitedError

if TYPE_CHECKING:
    import redis.asyncio

logger = logging.getLogger(__name__)

# An address with no failure for this long starts again with its free failures.
FORGET_SECONDS = 3600.0


class AuthThrottledError(RateLimitedError):
    """Too many failed authentications from one client address (HTTP 429)."""

    def __init__(self, address: str, retry_after: float) -> None:
        super().__init__(address, retry_after)
        self.args = (
            f"too many failed sign-ins from {address}; retry in {max(1.0, retry_after):.0f} s",
        )


class FailureThrottle(Protocol):
    """Failed authentications per client address: the first ``free`` failures cost nothing,
    then each one locks the address out for twice as long as the last (``base`` seconds up
    to ``ceiling``). A success clears the address, and so do ``forget`` seconds without a
    failure once a lockout is over. Guessing keys is hopeless anyway (they are 256-bit); this
    stops a flood from costing key-store lookups and log lines, and slows a leaked-prefix
    search to a crawl. Built by :func:`open_failure_throttle` from a URL.
    """

    free: int
    base: float
    ceiling: float
    forget: float

    async def check(self, address: str) -> None:
        """AuthThrottledError while ``address`` is locked out."""
        ...

    async def failed(self, address: str) -> None:
        """Count a failed authentication from ``address``."""
        ...

    async def succeeded(self, address: str) -> None:
        """Forget the failures of ``address``."""
        ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


def _lockout(count: int, free: int, base: float, ceiling: float) -> float:
    """Seconds of lockout after the ``count``-th failure in a row."""
    if count <= free:
        return 0.0
    # The exponent is capped so a long flood cannot overflow a float.
    return min(ceiling, base * 2.0 ** min(count - free - 1, 64))


class MemoryFailureThrottle:
    """Failures in this process's memory: exact for one API process."""

    def __init__(
        self,
        *,
        free: int = 5,
        base: float = 1.0,
        ceiling: float = 300.0,
        forget: float = FORGET_SECONDS,
        max_addresses: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.base = base
        self.ceiling = ceiling
        self.forget = forget
        self.max_addresses = max_addresses
        self._clock = clock
        # address -> (failures in a row, locked until, forgotten at)
        self._failures: dict[str, tuple[int, float, float]] = {}

    def _entry(self, address: str, now: float) -> tuple[int, float, float]:
        entry = self._failures.get(address)
        if entry is None or entry[2] <= now:
            return (0, 0.0, 0.0)
        return entry

    async def check(self, address: str) -> None:
        now = self._clock()
        wait = self._entry(address, now)[1] - now
        if wait > 0:
            raise AuthThrottledError(address, wait)

    async def failed(self, address: str) -> None:
        now = self._clock()
        if len(self._failures) >= self.max_addresses:
            # Forget expired addresses, so a spray of addresses cannot grow memory.
            self._failures = {a: v for a, v in self._failures.items() if v[2] > now}
            if len(self._failures) >= self.max_addresses:
                self._failures.clear()
        count = self._entry(address, now)[0] + 1
        locked = now + _lockout(count, self.free, self.base, self.ceiling)
        self._failures[address] = (count, locked, locked + self.forget)

    async def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._failures.clear()


# Both scripts are timed by the Redis clock, so API processes on different hosts agree, and
# each is one atomic step. Numbers go back as strings: Redis truncates Lua numbers to integers.
_FAILED_SCRIPT = """
local free = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local ceiling = tonumber(ARGV[3])
local forget = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
local wait = 0
if count > free then
  wait = math.min(ceiling, base * 2 ^ math.min(count - free - 1, 64))
end
redis.call('HSET', KEYS[1], 'locked', tostring(now + wait))
redis.call('PEXPIRE', KEYS[1], math.ceil((wait + forget) * 1000))
return tostring(wait)
"""
_CHECK_SCRIPT = """
local locked = tonumber(redis.call('HGET', KEYS[1], 'locked'))
if locked == nil then
  return '0'
end
local t = redis.call('TIME')
return tostring(locked - (tonumber(t[1]) + tonumber(t[2]) / 1000000))
"""


class RedisFailureThrottle:
    """Failures as Redis hashes (one per address, expiring ``forget`` seconds after its
    lockout), so a lockout earned through one API process holds on all of them.

    If Redis cannot be reached the request goes on to the key check (logged and counted in
    ``failures``): a throttle outage must not lock everyone out.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        free: int = 5,
        base: float = 1.0,
        ceiling: float = 300.0,
        forget: float = FORGET_SECONDS,
        prefix: str = "omnihub:authfail:",
    ) -> None:
        self.free = free
        self.base = base
        self.ceiling = ceiling
        self.forget = forget
        self.failures = 0
        self._client = client
        self._prefix = prefix
        self._failed = client.register_script(_FAILED_SCRIPT)
        self._check = client.register_script(_CHECK_SCRIPT)

    def _unavailable(self, exc: Exception) -> None:
        self.failures += 1
        logger.warning("failed-sign-in throttle unavailable, not throttling: %s", exc)

    async def check(self, address: str) -> None:
        import redis.exceptions

        try:
            wait = float(await self._check(keys=[self._prefix + address]))
        except redis.exceptions.RedisError as exc:
            self._unavailable(exc)
            return
        if wait > 0:
            raise AuthThrottledError(address, wait)

    async def failed(self, address: str) -> None:
        import redis.exceptions

        args = [self.free, self.base, self.ceiling, self.forget]
        try:
            await self._failed(keys=[self._prefix + address], args=args)
        except redis.exceptions.RedisError as exc:
            self._unavailable(exc)

    async def succeeded(self, address: str) -> None:
        import redis.exceptions

        try:
            await self._client.delete(self._prefix + address)
        except redis.exceptions.RedisError as exc:
            self._unavailable(exc)

    async def ping(self) -> None:
        await ping_redis(self._client)

    async def aclose(self) -> None:
        await self._client.aclose()


def open_failure_throttle(
    url: str | None,
    *,
    free: int = 5,
    base: float = 1.0,
    ceiling: float = 300.0,
    forget: float = FORGET_SECONDS,
) -> FailureThrottle:
    """The failed-sign-in throttle ``url`` names: ``memory://`` (or None: this process only)
    or ``redis://`` / ``rediss://`` (lockouts shared by every API process; the URL reaches
    the Redis client unchanged)."""
    kind = "memory"
    if url is not None:
        kind = parse_backend_url(
            url, allowed=("memory", "redis"), purpose="failed-sign-in throttle URL"
        ).kind
    if url is None or kind == "memory":
        return MemoryFailureThrottle(free=free, base=base, ceiling=ceiling, forget=forget)
    return RedisFailureThrottle(
        redis_client(url), free=free, base=base, ceiling=ceiling, forget=forget
    )


class _Decision(Protocol):
    @property
    def allowed(self) -> bool: ...

    @property
    def retry_after(self) -> float: ...


class _Caller(Protocol):
    """Whoever spends the tokens: an API key's principal or a console session."""

    @property
    def key_id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...


class _Limiter(Protocol):
    burst: int

    async def acquire(self, tenant_id: str, cost: float = 1.0) -> _Decision: ...


async def acquire_for_key(limiter: _Limiter, principal: _Caller, key_share: float) -> None:
    """Take a token for ``principal`` from its key's bucket, then from its tenant's.

    A key's bucket refills at ``key_share`` of the tenant's rate (its tokens cost
    ``1 / key_share``), so one key (a viewer polling in a loop) runs dry long before it can
    drain the tenant's budget, and the tenant's other keys keep working.
    RateLimitedError when either bucket is empty.
    """
    tenant = principal.tenant_id
    # Never dearer than a full bucket: with a burst below 1 / key_share a key could never pay.
    key_cost = min(1.0 / key_share, float(limiter.burst))
    for bucket, cost in ((f"{tenant}/key/{principal.key_id}", key_cost), (tenant, 1.0)):
        decision = await limiter.acquire(bucket, cost)
        if not decision.allowed:
            raise RateLimitedError(tenant, decision.retry_after)
