"""Throttles in front of authentication: failed sign-ins per client address, with backoff,
and request tokens per key within the tenant's budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from omnihub.auth._keys import Principal
from omnihub.errors import RateLimitedError


class AuthThrottledError(RateLimitedError):
    """Too many failed authentications from one client address (HTTP 429)."""

    def __init__(self, address: str, retry_after: float) -> None:
        super().__init__(address, retry_after)
        self.args = (
            f"too many failed sign-ins from {address}; retry in {max(1.0, retry_after):.0f} s",
        )


class FailureThrottle:
    """Failed authentications per client address: the first ``free`` failures cost nothing,
    then each one locks the address out for twice as long as the last (``base`` seconds up
    to ``ceiling``). A success clears the address. Kept in this process's memory: guessing
    keys is hopeless anyway (they are 256-bit); this stops a flood from costing key-store
    lookups and log lines, and slows a leaked-prefix search to a crawl.
    """

    def __init__(
        self,
        *,
        free: int = 5,
        base: float = 1.0,
        ceiling: float = 300.0,
        max_addresses: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.base = base
        self.ceiling = ceiling
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (count, locked until)

    def check(self, address: str) -> None:
        """AuthThrottledError while ``address`` is locked out."""
        until = self._failures.get(address, (0, 0.0))[1]
        wait = until - self._clock()
        if wait > 0:
            raise AuthThrottledError(address, wait)

    def failed(self, address: str) -> None:
        """Count a failed authentication from ``address``."""
        now = self._clock()
        if len(self._failures) >= self.max_addresses:
            # Forget addresses whose lockout ended, so a spray of addresses cannot grow memory.
            self._failures = {a: v for a, v in self._failures.items() if v[1] > now}
            if len(self._failures) >= self.max_addresses:
                self._failures.clear()
        count = self._failures.get(address, (0, 0.0))[0] + 1
        until = 0.0
        if count > self.free:
            until = now + min(self.ceiling, self.base * 2 ** (count - self.free - 1))
        self._failures[address] = (count, until)

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address``."""
        self._failures.pop(address, None)


class _Decision(Protocol):
    @property
    def allowed(self) -> bool: ...

    @property
    def retry_after(self) -> float: ...


class _Limiter(Protocol):
    burst: int

    async def acquire(self, tenant_id: str, cost: float = 1.0) -> _Decision: ...


async def acquire_for_key(limiter: _Limiter, principal: Principal, key_share: float) -> None:
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
