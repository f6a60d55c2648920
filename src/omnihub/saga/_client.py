"""Starting and steering goals: the caller's side of the AgentSaga workflow."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from omnihub.config import Settings
from omnihub.errors import GoalEndedError, GoalExistsError, NotFoundError, ValidationError
from omnihub.events import new_event_id
from omnihub.plans import Plan
from omnihub.saga._models import (
    ApprovalDecision,
    ControlRequest,
    SagaInput,
    SagaOptions,
    SagaResult,
    SagaState,
)
from omnihub.saga.workflows import AgentSaga

_T = TypeVar("_T")
_ATTEMPTS = 5
# How long a worker may hold a goal's workflow task before the server hands it to another.
# Temporal's default is 10 s: a worker killed while it holds a task (our event appends run
# as local activities inside workflow tasks, so one usually does) left its goals idle for
# those 10 s. Local activities longer than this are fine: the SDK heartbeats the task.
DEFAULT_WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)
# The server was too busy or the connection dropped: the call may be tried again.
_TRANSIENT = {
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}


async def _back_off(exc: RPCError, attempt: int) -> None:
    """Re-raise ``exc`` unless it is transient and attempts remain; else wait a little."""
    if exc.status not in _TRANSIENT or attempt == _ATTEMPTS - 1:
        raise exc
    await asyncio.sleep(min(5.0, 0.2 * 2**attempt))


def goal_workflow_id(tenant_id: str, goal_id: str) -> str:
    """The Temporal workflow id of a goal: unique per tenant."""
    return f"goal/{tenant_id}/{goal_id}"


class SagaClient:
    """Start goals and decide, cancel, pause, resume and query them. ``rpc_timeout`` bounds
    each call to Temporal (its default is short for a burst of thousands of starts).

    ``eager_start``: for a process that runs a worker on the queue through the same client,
    the server hands each goal's first workflow task back in the start's answer (one round
    trip less). The goal then runs on this process's worker, so leave it off where starts
    should spread over a pool of workers.
    """

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = "omnihub",
        tenant_id: str = "default",
        options: SagaOptions | None = None,
        rpc_timeout: timedelta | None = None,
        eager_start: bool = False,
        workflow_task_timeout: timedelta = DEFAULT_WORKFLOW_TASK_TIMEOUT,
    ) -> None:
        self.client = client
        self.workflow_task_timeout = workflow_task_timeout
        self.eager_start = eager_start
        self.rpc_timeout = rpc_timeout
        self.task_queue = task_queue
        self.tenant_id = tenant_id
        self.options = options or SagaOptions()

    @classmethod
    def from_settings(cls, client: Client, settings: Settings) -> SagaClient:
        return cls(
            client,
            task_queue=settings.task_queue,
            tenant_id=settings.tenant_id,
            options=SagaOptions(
                max_parallel_steps=settings.saga_max_parallel_steps,
                approval_timeout_s=settings.saga_approval_timeout_s,
                continue_as_new_after_steps=settings.saga_continue_as_new_steps,
                deadline_s=settings.saga_goal_deadline_s,
            ),
            workflow_task_timeout=timedelta(seconds=settings.saga_workflow_task_timeout_s),
        )

    async def start(
        self,
        goal: str,
        plan: Plan | None = None,
        *,
        goal_id: str | None = None,
        tenant_id: str | None = None,
        user_id: str = "user",
        context: dict[str, Any] | None = None,
        options: SagaOptions | None = None,
        deadline_s: float | None = None,
        submitter_id: str | None = None,
        submitter_role: str = "operator",
    ) -> str:
        """Start a goal, with an explicit plan or planned by the worker's planner; its id.

        ``deadline_s`` (seconds from the start) overrides the options' deadline: when it
        passes, the goal is cancelled and compensated. ``submitter_id``/``submitter_role``
        are the API key that submitted it (the principal its policy decisions are made for).
        """
        tenant = tenant_id or self.tenant_id
        options = options or self.options
        if deadline_s is not None:
            options = options.model_copy(update={"deadline_s": deadline_s})
        goal_id = goal_id or new_event_id()  # a UUIDv7, like every goal id
        saga_input = SagaInput(
            goal_id=goal_id,
            tenant_id=tenant,
            goal=goal,
            user_id=user_id,
            context=context or {},
            plan=plan,
            options=options,
            submitter_id=submitter_id,  # guard3: the real principal
            submitter_role=submitter_role,
        )
        for attempt in range(_ATTEMPTS):
            try:
                await self.client.start_workflow(
                    AgentSaga.run,
                    saga_input,
                    id=goal_workflow_id(tenant, goal_id),
                    task_queue=self.task_queue,
                    task_timeout=self.workflow_task_timeout,
                    rpc_timeout=self.rpc_timeout,
                    # A retry after a lost answer finds the goal its first try started.
                    id_conflict_policy=(
                        WorkflowIDConflictPolicy.USE_EXISTING
                        if attempt
                        else WorkflowIDConflictPolicy.FAIL
                    ),
                    # A goal id runs once, ever: a retry that comes after the goal ended
                    # (an idempotent resubmission) must not start the saga again.
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    request_eager_start=self.eager_start and not attempt,
                )
                return goal_id
            except WorkflowAlreadyStartedError as exc:
                raise GoalExistsError(goal_id) from exc
            except RPCError as exc:
                await _back_off(exc, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def handle(
        self, goal_id: str, tenant_id: str | None = None
    ) -> WorkflowHandle[AgentSaga, SagaResult]:
        return self.client.get_workflow_handle_for(
            AgentSaga.run, goal_workflow_id(tenant_id or self.tenant_id, goal_id)
        )

    async def result(self, goal_id: str, tenant_id: str | None = None) -> SagaResult:
        """Wait for the goal to end; its result."""
        handle = self.handle(goal_id, tenant_id)
        for attempt in range(_ATTEMPTS):
            try:
                return await self._call(goal_id, handle.result(rpc_timeout=self.rpc_timeout))
            except RPCError as exc:
                await _back_off(exc, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def exists(self, goal_id: str, tenant_id: str | None = None) -> bool:
        """Whether Temporal knows the goal's workflow. Asks the server, not a worker (a query
        would wait for one), so it answers while no worker runs."""
        try:
            await self._call(goal_id, self.handle(goal_id, tenant_id).describe())
        except NotFoundError:
            return False
        return True

    async def state(self, goal_id: str, tenant_id: str | None = None) -> SagaState:
        """The goal's live state (the workflow's query)."""
        handle = self.handle(goal_id, tenant_id)
        return await self._call(goal_id, handle.query(AgentSaga.state))

    async def decide(
        self, goal_id: str, decision: ApprovalDecision, tenant_id: str | None = None
    ) -> ApprovalDecision:
        """Approve or reject a waiting step; returns once the decision took effect."""
        handle = self.handle(goal_id, tenant_id)
        try:
            return await self._call(goal_id, handle.execute_update(AgentSaga.decide, decision))
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise ValidationError(getattr(cause, "message", None) or str(exc)) from exc

    async def cancel(
        self, goal_id: str, request: ControlRequest | None = None, tenant_id: str | None = None
    ) -> None:
        await self._call(
            goal_id,
            self.handle(goal_id, tenant_id).signal(AgentSaga.cancel, request or ControlRequest()),
        )

    async def pause(
        self, goal_id: str, request: ControlRequest | None = None, tenant_id: str | None = None
    ) -> None:
        await self._call(
            goal_id,
            self.handle(goal_id, tenant_id).signal(AgentSaga.pause, request or ControlRequest()),
        )

    async def resume(
        self, goal_id: str, request: ControlRequest | None = None, tenant_id: str | None = None
    ) -> None:
        await self._call(
            goal_id,
            self.handle(goal_id, tenant_id).signal(AgentSaga.resume, request or ControlRequest()),
        )

    @staticmethod
    async def _call(goal_id: str, call: Awaitable[_T]) -> _T:
        try:
            return await call
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND and "completed" in exc.message:
                raise GoalEndedError(goal_id) from exc
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise NotFoundError(f"goal {goal_id!r} does not exist") from exc
            raise
