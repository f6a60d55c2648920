"""The saga's activities: all I/O of a goal (events, tools, the ledger) happens here.

Every event is appended with an id and idempotency key derived from the goal, the step, the
event type and (for StepStarted) the attempt, with the workflow's time of scheduling, so a
retried activity or a replayed workflow appends nothing twice and a dead worker loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from omnihub import telemetry
from omnihub.errors import (
    BudgetExceededError,
    OmniHubError,
    PlanValidationError,
    StoreError,
    ToolError,
)
from omnihub.events import EventStore, NewEvent, deterministic_event_id
from omnihub.events import default_registry as event_registry
from omnihub.plans import validate_plan
from omnihub.saga._models import (
    CompensateInput,
    CompensationEntry,
    EventSpec,
    PlanningInput,
    PrepareInput,
    PrepareResult,
    ProvidedPlan,
    RecordEventsInput,
    RetryPolicyModel,
    StepInput,
    StepPolicy,
    StepResult,
)
from omnihub.tools import (
    ToolContext,
    ToolRegistry,
    ToolResources,
    ToolSpec,
    execute_tool,
    idempotency_key,
)


class PlanProvider(Protocol):
    """Where a goal without an explicit plan gets one: the planner (``omnihub.planning``).

    It returns the plan with how it was made (source, model, token usage, cache details), which
    the PlanGenerated event records.
    """

    async def plan(self, request: PlanningInput) -> ProvidedPlan: ...


def event(event_type: str, payload: dict[str, Any], *key_parts: str) -> EventSpec:
    """An event to append, identified by ``key_parts`` within its goal."""
    return EventSpec(event_type=event_type, payload=payload, key_parts=list(key_parts))


def step_policy(spec: ToolSpec) -> StepPolicy:
    """How the workflow must run ``spec``: retries, timeouts, approval, compensation."""
    retry = spec.retry
    return StepPolicy(
        tool=spec.name,
        side_effect=spec.side_effect,
        requires_approval=spec.requires_approval,
        risk=spec.risk.value,
        retry=RetryPolicyModel(
            initial_interval_s=retry.initial_interval_s,
            backoff=retry.backoff,
            max_interval_s=retry.max_interval_s,
            max_attempts=retry.max_attempts,
            non_retryable_error_types=list(retry.non_retryable_error_types),
        ),
        start_to_close_timeout_s=spec.start_to_close_timeout_s,
        heartbeat_timeout_s=spec.heartbeat_timeout_s,
        compensation_tool=spec.compensation.tool if spec.compensation else None,
    )


def _application_error(exc: ToolError, spec: ToolSpec, attempt: int) -> ApplicationError:
    """A Temporal failure for ``exc``: its type name (for non-retryable type lists), whether
    retrying can help, and the next delay with jitter (between half and all of the backoff)."""
    delay = spec.retry.delay_s(attempt) * random.uniform(0.5, 1.0)
    return ApplicationError(
        str(exc),
        type=type(exc).__name__,
        non_retryable=exc.non_retryable,
        next_retry_delay=None if exc.non_retryable else timedelta(seconds=delay),
    )


class SagaActivities:
    """The activities one worker registers, bound to its registry, resources and store."""

    def __init__(
        self,
        registry: ToolRegistry,
        resources: ToolResources,
        store: EventStore,
        planner: PlanProvider | None = None,
    ) -> None:
        self.registry = registry
        self.resources = resources
        self.store = store
        self.planner = planner

    def all(self) -> Sequence[Callable[..., Any]]:
        """The activity callables to pass to a Temporal worker."""
        return [self.prepare_goal, self.record_events, self.execute_step, self.compensate_step]

    async def _append(
        self, tenant_id: str, goal_id: str, at: datetime, specs: Sequence[EventSpec]
    ) -> None:
        registry = event_registry
        events = [
            NewEvent(
                payload=registry.model_for(spec.event_type).model_validate(
                    spec.payload, strict=False
                ),
                event_id=deterministic_event_id(at, goal_id, *spec.key_parts),
                idempotency_key="/".join(spec.key_parts),
                correlation_id=goal_id,
            )
            for spec in specs
        ]
        try:
            await asyncio.to_thread(self.store.append, tenant_id, goal_id, events)
        except StoreError as exc:
            raise ApplicationError(f"cannot record events: {exc}", type="StoreError") from exc
        except OmniHubError as exc:
            raise ApplicationError(
                f"cannot record events: {exc}", type=type(exc).__name__, non_retryable=True
            ) from exc
        for spec in specs:  # obs hook: goal, compensation and approval metrics and log lines
            telemetry.observe_event(tenant_id, goal_id, spec.event_type, spec.payload)

    @activity.defn(name="record_events")
    async def record_events(self, input: RecordEventsInput) -> None:
        """Append events to a goal's stream (each at most once)."""
        await self._append(input.tenant_id, input.goal_id, input.at, input.events)

    @activity.defn(name="prepare_goal")
    async def prepare_goal(self, input: PrepareInput) -> PrepareResult:
        """Record GoalReceived, obtain and validate the plan, record PlanGenerated, and return
        the policy of every tool the plan (and its compensations) uses."""
        received = event(
            "GoalReceived",
            {
                "goal": input.goal,
                "user_id": input.user_id,
                "context": input.context,
                # obs hook: from an audit record to its trace
                "trace_id": telemetry.current_trace_id(),
            },
            "GoalReceived",
        )
        await self._append(input.tenant_id, input.goal_id, input.at, [received])
        plan = input.plan
        # An explicit plan is operator-written, like a playbook.
        made: dict[str, Any] = {"source": "playbook"}
        try:
            if plan is None:
                if self.planner is None:
                    return PrepareResult(error="the goal has no plan and no planner is configured")
                provided = await self.planner.plan(
                    PlanningInput(
                        tenant_id=input.tenant_id,
                        goal_id=input.goal_id,
                        goal=input.goal,
                        user_id=input.user_id,
                        context=input.context,
                        budget_approved=input.budget_approved,
                    )
                )
                plan = provided.plan
                made = provided.model_dump(exclude={"plan"})
            validate_plan(plan, self.registry)
        except PlanValidationError as exc:
            return PrepareResult(error=str(exc))
        except BudgetExceededError as exc:
            telemetry.record_budget_exceeded(input.tenant_id, exc.action)  # obs hook
            if exc.action == "hold" and not input.budget_approved:
                return PrepareResult(held=str(exc))
            return PrepareResult(error=f"planning failed: {exc}")
        except OmniHubError as exc:
            return PrepareResult(error=f"planning failed: {exc}")
        policies: dict[str, StepPolicy] = {}
        for step in plan.steps:
            spec = self.registry.get(step.tool)
            policies[spec.name] = step_policy(spec)
            if spec.compensation and spec.compensation.tool in self.registry:
                undo = self.registry.get(spec.compensation.tool)
                policies[undo.name] = step_policy(undo)
        steps = [
            {
                "step_id": step.id,
                "tool_name": step.tool,
                "args": step.args,
                "depends_on": step.depends_on,
                "compensation": policies[step.tool].compensation_tool,
            }
            for step in plan.steps
        ]
        generated = event(
            "PlanGenerated",
            {
                "plan_id": f"{input.goal_id}/plan",
                "steps": steps,
                "reasoning": plan.reasoning,
                **made,
            },
            "PlanGenerated",
        )
        await self._append(input.tenant_id, input.goal_id, input.at, [generated])
        return PrepareResult(plan=plan, policies=policies)

    async def _run_tool(
        self, spec: ToolSpec, args: dict[str, Any], ctx: ToolContext, kind: str = "do"
    ) -> dict[str, Any]:
        """Run a tool with heartbeats in the background, so a dead worker is noticed within
        the heartbeat timeout even when the tool itself never heartbeats."""

        async def beat(every: float) -> None:
            while True:
                await asyncio.sleep(every)
                activity.heartbeat()

        beating = (
            asyncio.create_task(beat(spec.heartbeat_timeout_s / 3))
            if spec.heartbeat_timeout_s
            else None
        )
        try:
            # obs hook: the tool's span (child of the activity's), latency and failures
            with telemetry.tool_call(
                spec.name,
                kind,
                tenant=ctx.tenant_id,
                goal_id=ctx.goal_id,
                step_id=ctx.step_id,
                attempt=ctx.attempt,
            ):
                return await execute_tool(spec, args, ctx)
        except ToolError as exc:
            raise _application_error(exc, spec, ctx.attempt) from exc
        finally:
            if beating is not None:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating

    def _context(self, tenant_id: str, goal_id: str, step_id: str, kind: str) -> ToolContext:
        return ToolContext(
            tenant_id=tenant_id,
            goal_id=goal_id,
            step_id=step_id,
            idempotency_key=idempotency_key(tenant_id, goal_id, step_id, kind),
            attempt=activity.info().attempt,
            resources=self.resources,
            heartbeat=activity.heartbeat,
        )

    @activity.defn(name="execute_step")
    async def execute_step(self, input: StepInput) -> StepResult:
        """One step: StepStarted, the tool call (once, through the ledger), ToolExecuted and
        StepCompleted; returns the output and the compensation to push."""
        ctx = self._context(input.tenant_id, input.goal_id, input.step_id, "do")
        spec = self.registry.get(input.tool)
        step = input.step_id
        started = event(
            "StepStarted",
            {"step_id": step, "tool_name": spec.name},
            step,
            "StepStarted",
            str(ctx.attempt),
        )
        await self._append(input.tenant_id, input.goal_id, input.at, [started])
        began = time.perf_counter()
        output = await self._run_tool(spec, input.args, ctx)
        duration_ms = (time.perf_counter() - began) * 1000
        compensation = None
        if spec.side_effect and spec.compensation is not None:
            try:
                undo_args = spec.compensation.resolve(input.args, output)
            except ToolError as exc:
                raise _application_error(exc, spec, ctx.attempt) from exc
            compensation = CompensationEntry(
                step_id=step, tool=spec.compensation.tool, args=undo_args
            )
        executed = event(
            "ToolExecuted",
            {
                "tool_name": spec.name,
                "input": input.args,
                "output": output,
                "duration_ms": round(duration_ms, 3),
                "attempt": ctx.attempt,
                "step_id": step,
            },
            step,
            "ToolExecuted",
        )
        completed = event(
            "StepCompleted", {"step_id": step, "result": output}, step, "StepCompleted"
        )
        await self._append(input.tenant_id, input.goal_id, input.at, [executed, completed])
        return StepResult(output=output, attempt=ctx.attempt, compensation=compensation)

    @activity.defn(name="compensate_step")
    async def compensate_step(self, input: CompensateInput) -> dict[str, Any]:
        """Undo one step (once, through the ledger with the step's ``undo`` key) and record
        CompensationExecuted."""
        entry = input.entry
        ctx = self._context(input.tenant_id, input.goal_id, entry.step_id, "undo")
        spec = self.registry.get(entry.tool)
        output = await self._run_tool(spec, entry.args, ctx, "undo")
        done = event(
            "CompensationExecuted",
            {
                "step_id": entry.step_id,
                "tool_name": spec.name,
                "input": entry.args,
                "output": output,
            },
            entry.step_id,
            "CompensationExecuted",
        )
        await self._append(input.tenant_id, input.goal_id, input.at, [done])
        return output
