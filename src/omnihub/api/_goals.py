"""The goal service of the API on the real stack: Temporal runs goals, the event store says
what happened.

Reads come from the event store (the GoalState projection and the raw events, both scoped to
the tenant by the store); starting and steering goes through :class:`omnihub.saga.SagaClient`,
whose workflow ids embed the tenant, so one tenant can never address another's workflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from omnihub.api._models import ApprovalDecision, GoalAccepted, GoalPage, GoalRequest
from omnihub.api._services import ControlAction, StreamEvent
from omnihub.errors import NotFoundError, ValidationError
from omnihub.events import EventEnvelope, EventStore, GoalState, project_goal
from omnihub.saga import ApprovalDecision as SagaDecision
from omnihub.saga import ControlRequest, SagaClient

TERMINAL_EVENTS = frozenset({"GoalCompleted", "GoalFailed", "GoalCancelled"})
_SUMMARY_FIELDS = (
    "goal_id",
    "status",
    "goal",
    "user_id",
    "plan_source",
    "error",
    "paused",
    "event_count",
    "created_at",
    "updated_at",
    "finished_at",
)


def _event_json(event: EventEnvelope) -> dict[str, Any]:
    data: dict[str, Any] = event.model_dump(mode="json")
    return data


class SagaGoalService:
    """:class:`omnihub.api.GoalService` on the event store and the AgentSaga workflow.

    The store's calls are synchronous, so they run in worker threads. Live streams poll the
    goal's stream (an indexed read) every ``poll_interval`` seconds, which works the same
    whether the worker appending the events is in this process or on another machine.
    """

    def __init__(self, store: EventStore, sagas: SagaClient, *, poll_interval: float = 0.2) -> None:
        self.store = store
        self.sagas = sagas
        self.poll_interval = poll_interval

    async def _read(
        self, tenant_id: str, goal_id: str, from_version: int = 1
    ) -> list[EventEnvelope]:
        return await asyncio.to_thread(self.store.read_stream, tenant_id, goal_id, from_version)

    async def _exists_in_temporal(self, tenant_id: str, goal_id: str) -> bool:
        try:
            await self.sagas.state(goal_id, tenant_id)
        except NotFoundError:
            return False
        return True

    async def _state(self, tenant_id: str, goal_id: str) -> GoalState:
        events = await self._read(tenant_id, goal_id)
        if events:
            return project_goal(events)
        # Started, but its first event is not recorded yet: known to Temporal only.
        if await self._exists_in_temporal(tenant_id, goal_id):
            return GoalState(goal_id=goal_id, tenant_id=tenant_id, status="new")
        raise NotFoundError(f"goal {goal_id!r} does not exist")

    async def submit(self, tenant_id: str, goal_id: str, request: GoalRequest) -> GoalAccepted:
        try:
            await self.sagas.start(
                request.goal,
                request.plan,
                goal_id=goal_id,
                tenant_id=tenant_id,
                user_id=request.user_id or "api",
                context=request.context,
            )
        except ValidationError:
            # Started before (a retried idempotent request): answer with that goal.
            if not await self._exists_in_temporal(tenant_id, goal_id):
                raise
            state = await self._state(tenant_id, goal_id)
            return GoalAccepted(goal_id=goal_id, status=state.status)
        return GoalAccepted(goal_id=goal_id, status="new")

    async def get(self, tenant_id: str, goal_id: str) -> dict[str, Any]:
        state = await self._state(tenant_id, goal_id)
        data: dict[str, Any] = state.model_dump(mode="json")
        return data

    async def list_goals(
        self, tenant_id: str, *, status: str | None, limit: int, cursor: str | None
    ) -> GoalPage:
        # Goal ids are UUIDv7, so sorting them sorts goals by creation time.
        ids = sorted(await asyncio.to_thread(self.store.list_streams, tenant_id), reverse=True)
        if cursor is not None:
            ids = [goal_id for goal_id in ids if goal_id < cursor]
        items: list[dict[str, Any]] = []
        last: str | None = None
        for goal_id in ids:
            events = await self._read(tenant_id, goal_id)
            if not events:
                continue
            state = project_goal(events)
            last = goal_id
            if status is not None and state.status != status:
                continue
            dumped = state.model_dump(mode="json")
            items.append({k: dumped[k] for k in _SUMMARY_FIELDS})
            if len(items) == limit:
                break
        more = len(items) == limit and last is not None and last != ids[-1]
        return GoalPage(items=items, next_cursor=last if more else None)

    async def events(
        self, tenant_id: str, goal_id: str, *, after_version: int, limit: int
    ) -> list[dict[str, Any]]:
        await self._state(tenant_id, goal_id)  # 404 for another tenant's or no goal
        events = await self._read(tenant_id, goal_id, after_version + 1)
        return [_event_json(e) for e in events[:limit]]

    async def stream(
        self, tenant_id: str, goal_id: str, *, after_version: int
    ) -> AsyncIterator[StreamEvent]:
        sent = after_version
        while True:
            for event in await self._read(tenant_id, goal_id, sent + 1):
                sent = event.stream_version
                yield StreamEvent(sent, event.event_type, _event_json(event))
                if event.event_type in TERMINAL_EVENTS:
                    return
            await asyncio.sleep(self.poll_interval)

    async def decide(
        self, tenant_id: str, goal_id: str, step_id: str, decision: ApprovalDecision, actor: str
    ) -> dict[str, Any]:
        await self.sagas.decide(
            goal_id,
            SagaDecision(
                step_id=step_id,
                approved=decision.decision == "approve",
                decided_by=actor,
                reason=decision.reason,
            ),
            tenant_id,
        )
        return await self.get(tenant_id, goal_id)

    async def control(
        self, tenant_id: str, goal_id: str, action: ControlAction, reason: str | None, actor: str
    ) -> GoalAccepted:
        request = ControlRequest(by=actor, reason=reason)
        if action == "cancel":
            await self.sagas.cancel(goal_id, request, tenant_id)
        elif action == "pause":
            await self.sagas.pause(goal_id, request, tenant_id)
        else:
            await self.sagas.resume(goal_id, request, tenant_id)
        state = await self.sagas.state(goal_id, tenant_id)
        return GoalAccepted(goal_id=goal_id, status=state.status)
