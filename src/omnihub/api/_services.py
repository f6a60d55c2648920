"""What the HTTP API needs from the rest of OmniHub, as small Protocols.

The routers depend only on these; :mod:`omnihub.api._wiring` builds the real implementations
(event store, saga client, plan cache, usage ledger) from settings. Every call takes the
caller's tenant: implementations must never return another tenant's data (they answer
NotFoundError instead).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from omnihub.api._models import ApprovalDecision, GoalAccepted, GoalPage, GoalRequest
from omnihub.auth import IdempotencyStore, KeyStore, NonceStore, RateLimiter

ControlAction = Literal["cancel", "pause", "resume"]


@dataclass(frozen=True)
class StreamEvent:
    """One event of a goal's stream, as sent over SSE (``id`` is the stream version)."""

    version: int
    type: str
    data: dict[str, Any]


class GoalService(Protocol):
    """Goals of one tenant: start, read, follow and steer them."""

    async def submit(self, tenant_id: str, goal_id: str, request: GoalRequest) -> GoalAccepted:
        """Start the goal ``goal_id``; calling again with the same id returns the same goal."""
        ...

    async def get(self, tenant_id: str, goal_id: str) -> dict[str, Any]:
        """The goal's state (the GoalState projection as JSON); NotFoundError if absent."""
        ...

    async def list_goals(
        self, tenant_id: str, *, status: str | None, limit: int, cursor: str | None
    ) -> GoalPage:
        """Goals of the tenant, newest first, optionally with one status."""
        ...

    async def events(
        self, tenant_id: str, goal_id: str, *, after_version: int, limit: int
    ) -> list[dict[str, Any]]:
        """The goal's stored events after ``after_version``, oldest first."""
        ...

    def stream(
        self, tenant_id: str, goal_id: str, *, after_version: int
    ) -> AsyncIterator[StreamEvent]:
        """The goal's events after ``after_version``, then live ones until the goal ends."""
        ...

    async def decide(
        self, tenant_id: str, goal_id: str, step_id: str, decision: ApprovalDecision, actor: str
    ) -> dict[str, Any]:
        """Approve or reject a waiting step; returns the state once the workflow accepted it."""
        ...

    async def control(
        self, tenant_id: str, goal_id: str, action: ControlAction, reason: str | None, actor: str
    ) -> GoalAccepted:
        """Send cancel, pause or resume to a running goal."""
        ...


class CacheStatsSource(Protocol):
    async def cache_stats(self, tenant_id: str) -> dict[str, Any]:
        """Plan-cache counters of the tenant (hits, misses by reason, latency)."""
        ...


class UsageSource(Protocol):
    async def usage(self, tenant_id: str, since: datetime | None) -> dict[str, Any]:
        """LLM calls, tokens, cost and savings of the tenant."""
        ...


Check = Callable[[], Awaitable[None]]


@dataclass
class ApiServices:
    """Everything the routers use, built once per app (by the caller or from settings)."""

    keys: KeyStore
    rate_limiter: RateLimiter
    nonces: NonceStore
    idempotency: IdempotencyStore
    goals: GoalService | None = None
    cache_stats: CacheStatsSource | None = None
    usage: UsageSource | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close what was opened for these services, last opened first."""
        for close in reversed(self.closers):
            await close()
        self.closers.clear()
