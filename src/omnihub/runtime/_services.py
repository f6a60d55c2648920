"""The running services of one process, as the composition root hands them to adapters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from omnihub.auth import (
    FailureThrottle,
    IdempotencyStore,
    KeyStore,
    NonceStore,
    RateLimiter,
    SessionStore,
)
from omnihub.events import EventStore
from omnihub.goals import CacheStatsSource, GoalService, UsageSource
from omnihub.saga import SagaClient

Check = Callable[[], Awaitable[None]]
Closer = Callable[[], Awaitable[None]]


@dataclass
class Services:
    """Everything the adapters use, built once per process by :func:`open_services` (or by a
    test, which passes its own pieces in)."""

    keys: KeyStore
    rate_limiter: RateLimiter
    nonces: NonceStore
    idempotency: IdempotencyStore
    sessions: SessionStore
    throttle: FailureThrottle
    goals: GoalService | None = None
    cache_stats: CacheStatsSource | None = None
    usage: UsageSource | None = None
    store: EventStore | None = None
    sagas: SagaClient | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    closers: list[Closer] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close what was opened for these services, last opened first."""
        for close in reversed(self.closers):
            await close()
        self.closers.clear()
