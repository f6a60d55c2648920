"""API test support: the app over httpx's ASGI transport with real stores under OMNIHUB_HOME.

``MemoryGoals`` is a goal service passed in for the API-layer tests (routing, auth, idempotency,
SSE framing); the real service on Temporal and the event store is tested in test_goals_stack.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from omnihub.auth import Principal, Role
from omnihub.config import Settings
from omnihub.errors import GoalExistsError, NotFoundError, ValidationError
from omnihub.goals import (
    ControlAction,
    GoalAccepted,
    GoalDecision,
    GoalPage,
    GoalRequest,
    StreamEvent,
)
from omnihub.runtime import Services

TERMINAL = {"GoalCompleted", "GoalFailed", "GoalCancelled"}


@dataclass
class _Goal:
    tenant_id: str
    goal_id: str
    request: GoalRequest
    status: str = "running"
    events: list[StreamEvent] = field(default_factory=list)


class MemoryGoals:
    """A goal backend in memory (passed to a real GoalService), each goal with an event list
    that ``emit`` extends (live for SSE)."""

    def __init__(self) -> None:
        self.goals: dict[str, _Goal] = {}
        self.submits = 0
        self._changed = asyncio.Condition()

    def _goal(self, tenant_id: str, goal_id: str) -> _Goal:
        goal = self.goals.get(goal_id)
        if goal is None or goal.tenant_id != tenant_id:
            raise NotFoundError(f"no goal {goal_id!r}")
        return goal

    async def emit(self, goal_id: str, type_: str, data: dict[str, Any]) -> None:
        goal = self.goals[goal_id]
        goal.events.append(StreamEvent(len(goal.events) + 1, type_, data))
        if type_ in TERMINAL:
            goal.status = type_.removeprefix("Goal").lower()
        async with self._changed:
            self._changed.notify_all()

    async def submit(
        self, tenant_id: str, goal_id: str, request: GoalRequest, *, submitter: Any = None
    ) -> GoalAccepted:
        if goal_id in self.goals:
            raise GoalExistsError(goal_id)
        self.submits += 1
        self.goals[goal_id] = _Goal(tenant_id, goal_id, request)
        await self.emit(goal_id, "GoalReceived", {"goal": request.goal})
        return GoalAccepted(goal_id=goal_id, status=self.goals[goal_id].status)

    async def get(self, tenant_id: str, goal_id: str) -> dict[str, Any]:
        goal = self._goal(tenant_id, goal_id)
        return {"goal_id": goal_id, "status": goal.status, "goal": goal.request.goal}

    async def list_goals(
        self, tenant_id: str, *, status: str | None, limit: int, cursor: str | None
    ) -> GoalPage:
        mine = [
            g
            for g in reversed(self.goals.values())
            if g.tenant_id == tenant_id and (status is None or g.status == status)
        ]
        start = int(cursor) if cursor and cursor.isdigit() else 0
        page = mine[start : start + limit]
        more = start + limit < len(mine)
        return GoalPage(
            items=[{"goal_id": g.goal_id, "status": g.status} for g in page],
            next_cursor=str(start + limit) if more else None,
        )

    async def events(
        self, tenant_id: str, goal_id: str, *, after_version: int, limit: int
    ) -> list[dict[str, Any]]:
        goal = self._goal(tenant_id, goal_id)
        return [
            {"version": e.version, "type": e.type, "data": e.data}
            for e in goal.events
            if e.version > after_version
        ][:limit]

    async def stream(
        self, tenant_id: str, goal_id: str, *, after_version: int
    ) -> AsyncIterator[StreamEvent]:
        goal = self._goal(tenant_id, goal_id)
        sent = after_version
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda s=sent: len(goal.events) > s)  # type: ignore[misc]
            for event in goal.events[sent:]:
                sent = event.version
                yield event
                if event.type in TERMINAL:
                    return

    async def decide(
        self,
        tenant_id: str,
        goal_id: str,
        step_id: str,
        decision: GoalDecision,
        actor: str,
        *,
        approver: Principal | None = None,
    ) -> dict[str, Any]:
        self._goal(tenant_id, goal_id)
        if step_id != "approve-me":
            raise ValidationError(f"step {step_id!r} is not waiting for approval")
        kind = "ApprovalGranted" if decision.decision == "approve" else "ApprovalRejected"
        await self.emit(goal_id, kind, {"step_id": step_id, "by": actor})
        return await self.get(tenant_id, goal_id)

    async def control(
        self, tenant_id: str, goal_id: str, action: ControlAction, reason: str | None, actor: str
    ) -> GoalAccepted:
        goal = self._goal(tenant_id, goal_id)
        goal.status = {"cancel": "cancelled", "pause": "paused", "resume": "running"}[action]
        return GoalAccepted(goal_id=goal_id, status=goal.status)


@dataclass
class Api:
    client: httpx.AsyncClient
    services: Services
    goals: MemoryGoals
    settings: Settings

    def key(self, tenant: str = "acme", role: Role = Role.OPERATOR, signed: bool = False) -> str:
        return self.services.keys.create(tenant, role, require_signature=signed).key

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


ApiFactory = Callable[..., Any]


class MemoryStats:
    """Cache statistics and usage for the API-layer tests, counting what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, datetime | None]] = []

    async def cache_stats(self, tenant_id: str) -> dict[str, Any]:
        self.asked.append((tenant_id, None))
        return {
            "tenant": tenant_id,
            "plans": len(self.asked),
            "hits": 0,
            "misses": len(self.asked),
            "hit_rate": 0.0,
            "by_source": {"playbook": len(self.asked)},
            "mean_hit_similarity": None,
            "top_templates": [],
            "false_hit_reports": 0,
            "false_hit_rate": 0.0,
            "evicted_after_failures": 0,
            "ledger_cache_hits": 0,
            "tokens_saved": 0,
            "cost_saved": 0.0,
        }

    async def usage(self, tenant_id: str, since: datetime | None) -> dict[str, Any]:
        self.asked.append((tenant_id, since))
        totals = dict.fromkeys(
            ("calls", "prompt_tokens", "completion_tokens", "cost", "cache_hits"), 0
        )
        totals.update(saved_tokens=0, saved_cost=0.0)
        return {
            "tenant": tenant_id,
            "since": since.isoformat() if since else None,
            "rows": [],
            "totals": totals,
        }
