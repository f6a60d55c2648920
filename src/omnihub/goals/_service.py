"""The goal service: every goal use case, once, for the API, the console and the CLI."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from omnihub.auth import Principal
from omnihub.config import InputLimits
from omnihub.errors import ConfigurationError, GoalExistsError, ValidationError
from omnihub.events import GoalState, canonical_json, new_event_id
from omnihub.goals._backend import GoalBackend
from omnihub.goals._models import (
    ControlAction,
    GoalAccepted,
    GoalDecision,
    GoalPage,
    GoalRequest,
    StreamEvent,
)


def new_goal_id() -> str:
    """A fresh goal id: a UUIDv7, so goal ids sort by creation time. The one generator."""
    return new_event_id()


def request_hash(request: GoalRequest) -> str:
    """A stable hash of a goal request (its canonical JSON), bound to an idempotency key."""
    return hashlib.sha256(canonical_json(request.model_dump(mode="json")).encode()).hexdigest()


class IdempotencyRecords(Protocol):
    """(tenant, idempotency key) → goal id, shared by every API process."""

    def claim(self, tenant_id: str, key: str, body_hash: str, new_goal_id: str) -> tuple[str, bool]:
        """The goal id bound to ``key`` and whether it is new (``new_goal_id`` was bound);
        IdempotencyKeyReusedError when the key was used with another request."""
        ...


class GoalService:
    """Submit, read, list, follow, decide and steer goals of a tenant.

    Goal ids are made here and only here; an idempotency key binds a retried submission to
    the goal its first try started (across API processes, through ``idempotency``). Every
    submission is checked against ``limits`` here, so no adapter can start a goal the event
    store or the worker would refuse later (leaving it stuck).
    """

    def __init__(
        self,
        backend: GoalBackend,
        idempotency: IdempotencyRecords | None = None,
        *,
        limits: InputLimits | None = None,
    ):
        self.backend = backend
        self.idempotency = idempotency
        self.limits = limits or InputLimits()

    def check(self, request: GoalRequest) -> None:
        """ValidationError unless ``request`` fits the input limits: depth, size, plan steps
        and only numbers JSON can carry."""
        limits = self.limits
        # The headroom covers the event envelope's own fields and canonical number spelling.
        first_event = {
            "goal": request.goal,
            "user_id": request.user_id or "",
            "context": request.context,
        }
        limits.check_json(first_event, "the goal and its context", headroom=1024)
        if request.plan is not None:
            steps = len(request.plan.steps)
            if steps > limits.max_plan_steps:
                raise ValidationError(
                    f"the plan has {steps} steps, over the limit of {limits.max_plan_steps}"
                )
            limits.check_json(request.plan.model_dump(mode="json"), "the plan", headroom=1024)

    async def submit(
        self,
        tenant_id: str,
        request: GoalRequest,
        *,
        idempotency_key: str | None = None,
        goal_id: str | None = None,
        submitter: Principal | None = None,
    ) -> GoalAccepted:
        """Start a goal. With ``idempotency_key``, a retry returns the first try's goal; with
        ``goal_id`` (programs naming their own goals), GoalExistsError if it was started.
        ``submitter`` is the authenticated key: the tenant's policy decides the goal's plan and
        steps as that key's (its id and role); without one (the local CLI), as an operator's.
        ValidationError when the request is over the input limits (nothing is started)."""
        self.check(request)
        chosen, new = goal_id or new_goal_id(), True
        if idempotency_key is not None:
            if self.idempotency is None:
                raise ConfigurationError(
                    "idempotency keys are not available: no store is configured"
                )
            chosen, new = await asyncio.to_thread(
                self.idempotency.claim, tenant_id, idempotency_key, request_hash(request), chosen
            )
        try:
            return await self.backend.submit(tenant_id, chosen, request, submitter=submitter)
        except GoalExistsError:
            # chaos2: with a key, a fresh id that exists was started by a concurrent try of
            # the same request (whichever reached Temporal first), not by another goal: the
            # claim's winner may lose that race. Only a goal id the caller named is a clash.
            if idempotency_key is None or (new and goal_id is not None):
                raise
            # A retried request whose first try started the goal: answer with that goal.
            state = await self.backend.get(tenant_id, chosen)
            return GoalAccepted(goal_id=chosen, status=str(state["status"]))

    async def get(self, tenant_id: str, goal_id: str) -> dict[str, Any]:
        """The goal's state as JSON; NotFoundError if the tenant has no such goal."""
        return await self.backend.get(tenant_id, goal_id)

    async def state(self, tenant_id: str, goal_id: str) -> GoalState:
        """The goal's state as a :class:`GoalState`."""
        return GoalState.model_validate(await self.backend.get(tenant_id, goal_id))

    async def list_goals(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> GoalPage:
        """The tenant's goals, newest first, optionally with one status."""
        return await self.backend.list_goals(tenant_id, status=status, limit=limit, cursor=cursor)

    async def events(
        self, tenant_id: str, goal_id: str, *, after_version: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The goal's stored events after ``after_version``, oldest first."""
        return await self.backend.events(
            tenant_id, goal_id, after_version=after_version, limit=limit
        )

    async def stream(
        self, tenant_id: str, goal_id: str, *, after_version: int = 0
    ) -> AsyncIterator[StreamEvent]:
        """The goal's events after ``after_version``, then live ones until it ends (a goal
        that has ended already gets what is left, then the stream ends); checks the goal
        exists first (NotFoundError), so an unknown goal is never an empty stream."""
        await self.backend.get(tenant_id, goal_id)
        return self.backend.stream(tenant_id, goal_id, after_version=after_version)

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
        """Approve or reject a waiting step; the goal's state once the workflow took it.
        ``approver`` is the API key deciding (the API and the console pass it): its approval
        must be permitted by the tenant's ``approve`` policy, which by default refuses the
        key that submitted the goal (no self-approval). A local operator (the CLI) has none."""
        return await self.backend.decide(
            tenant_id, goal_id, step_id, decision, actor, approver=approver
        )

    async def control(
        self,
        tenant_id: str,
        goal_id: str,
        action: ControlAction,
        *,
        actor: str,
        reason: str | None = None,
    ) -> GoalAccepted:
        """Cancel, pause or resume a goal."""
        return await self.backend.control(tenant_id, goal_id, action, reason, actor)
