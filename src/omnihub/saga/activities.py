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
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from omnihub import telemetry
from omnihub.errors import (
    BudgetExceededError,
    OmniHubError,
    PlanValidationError,
    PolicyDeniedError,
    StoreError,
    ToolError,
)
from omnihub.events import (
    CompensationExecuted,
    EventStore,
    GoalReceived,
    NewEvent,
    PlanGenerated,
    StepCompleted,
    StepStarted,
    ToolExecuted,
    deterministic_event_id,
)
from omnihub.events import default_registry as event_registry
from omnihub.guard import Guard, PlanCheck, PolicyStore, StepCheck
from omnihub.plans import Plan, validate_plan
from omnihub.saga._guardrail import SagaGuard
from omnihub.saga._models import (
    CompensateInput,
    CompensationEntry,
    EventSpec,
    PlanningInput,
    PrepareResult,
    ProvidedPlan,
    RecordEventsInput,
    RetryPolicyModel,
    SagaMetrics,
    StepInput,
    StepPolicy,
    StepResult,
)
from omnihub.saga._outcome import completed_answer, final_event
from omnihub.saga._recording import event_spec, goal_event, step_event
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


# A tool that declares it finishes within this many seconds runs as a local activity: under
# the workflow task timeout (10 s), so a local step never holds its workflow task open long.
LOCAL_STEP_MAX_S = 5.0


def runs_locally(spec: ToolSpec) -> bool:
    """Whether a step of ``spec`` runs as a local activity: short, no approval, and no
    heartbeat due before its own timeout (a local activity cannot heartbeat, so a tool that
    relies on heartbeats to be found dead sooner stays a regular activity)."""
    timeout = spec.start_to_close_timeout_s
    beats = spec.heartbeat_timeout_s is not None and spec.heartbeat_timeout_s < timeout
    return timeout <= LOCAL_STEP_MAX_S and not spec.requires_approval and not beats


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
        local=runs_locally(spec),
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


def _store_failure(doing: str, exc: OmniHubError) -> ApplicationError:
    """A store that did not answer is retried; anything else (bad data) is not."""
    if isinstance(exc, StoreError):
        return ApplicationError(f"{doing}: {exc}", type="StoreError")
    return ApplicationError(f"{doing}: {exc}", type=type(exc).__name__, non_retryable=True)


def _no_heartbeat(*_details: Any) -> None:
    """A tool's heartbeat in a local activity, which has none to send."""


class SagaActivities:
    """The activities one worker registers, bound to its registry, resources and store."""

    def __init__(
        self,
        registry: ToolRegistry,
        resources: ToolResources,
        store: EventStore,
        planner: PlanProvider | None = None,
        on_goal_failed: Callable[[str, str], Awaitable[Any]] | None = None,
        *,
        guard: Guard | None = None,
    ) -> None:
        self.registry = registry
        self.resources = resources
        self.store = store
        self.planner = planner
        # Told (tenant, goal) once a GoalFailed is recorded: the plan cache learns from it.
        self.on_goal_failed = on_goal_failed
        # Fail closed: without a guard of its own the worker decides by the tenant's stored
        # policy set (the shipped defaults until one is applied), read on every decision.
        guard = guard or Guard(registry, PolicyStore(store).engine)
        self.guard = SagaGuard(guard, store)

    def all(self) -> Sequence[Callable[..., Any]]:
        """The activity callables to pass to a Temporal worker."""
        return [self.prepare_goal, self.record_events, self.execute_step, self.compensate_step]

    async def _append(
        self, tenant_id: str, goal_id: str, at: datetime, specs: Sequence[EventSpec]
    ) -> list[int]:
        positions = await asyncio.to_thread(self._store, tenant_id, goal_id, at, specs)
        self._observe(tenant_id, goal_id, specs)
        return positions

    def _store(
        self, tenant_id: str, goal_id: str, at: datetime, specs: Sequence[EventSpec]
    ) -> list[int]:
        """Append ``specs`` (blocking I/O: run it in a thread), each at most once."""
        registry = event_registry
        # A spec built here carries its validated model; one from the workflow is validated.
        events = [
            NewEvent(
                payload=spec.model()
                or registry.model_for(spec.event_type).model_validate(spec.payload, strict=False),
                event_id=deterministic_event_id(at, goal_id, *spec.key_parts),
                idempotency_key="/".join(spec.key_parts),
                correlation_id=goal_id,
            )
            for spec in specs
        ]
        try:
            return self.store.append(tenant_id, goal_id, events)
        except StoreError as exc:
            raise ApplicationError(f"cannot record events: {exc}", type="StoreError") from exc
        except OmniHubError as exc:
            raise _store_failure("cannot record events", exc) from exc

    @staticmethod
    def _observe(tenant_id: str, goal_id: str, specs: Sequence[EventSpec]) -> None:
        for spec in specs:  # obs hook: goal, compensation and approval metrics and log lines
            telemetry.observe_event(tenant_id, goal_id, spec.event_type, spec.payload)

    @activity.defn(name="record_events")
    async def record_events(self, input: RecordEventsInput) -> None:
        """Append events to a goal's stream (each at most once)."""
        await self._append(input.tenant_id, input.goal_id, input.at, input.events)
        if self.on_goal_failed and any(e.event_type == "GoalFailed" for e in input.events):
            await self.on_goal_failed(input.tenant_id, input.goal_id)

    @activity.defn(name="prepare_goal")
    async def prepare_goal(self, input: PlanningInput) -> PrepareResult:
        """Record GoalReceived, obtain and validate the plan, record PlanGenerated, and return
        the policy of every tool the plan (and its compensations) uses."""
        received = goal_event(
            GoalReceived(
                goal=input.goal,
                user_id=input.user_id,
                context=input.context,
                # obs hook: from an audit record to its trace
                trace_id=telemetry.current_trace_id(),
                submitter_id=input.submitter_id,  # guard3: the real principal
                submitter_role=input.submitter_role,
            )
        )
        # With a plan given, nothing slow runs before the plan is recorded: GoalReceived goes
        # first in that same append (one transaction less per goal). A planner may take long
        # or fail, so with one the goal is recorded as received before planning starts.
        head = [received]
        if input.plan is None:
            await self._append(input.tenant_id, input.goal_id, input.at, head)
            head = []
        plan = input.plan
        # An explicit plan came with the goal: the client made it, no planner did.
        made: dict[str, Any] = {"source": "client"}
        try:
            if plan is None:
                if self.planner is None:
                    error = "the goal has no plan and no planner is configured"
                    return PrepareResult(error=error)
                provided = await self.planner.plan(input)
                plan = provided.plan
                made = provided.model_dump(exclude={"plan"})
            validate_plan(plan, self.registry)
        except PlanValidationError as exc:
            if head:  # a given plan that does not validate: the goal was still received
                await self._append(input.tenant_id, input.goal_id, input.at, head)
            return PrepareResult(error=str(exc))
        except BudgetExceededError as exc:
            telemetry.record_budget_exceeded(input.tenant_id, exc.action)  # obs hook
            if exc.action == "hold" and not input.budget_approved:
                return PrepareResult(held=str(exc))
            return PrepareResult(error=f"planning failed: {exc}")
        except OmniHubError as exc:
            return PrepareResult(error=f"planning failed: {exc}")
        checked = await self._check_plan(input, plan, made.get("outside_texts") or [])
        decisions = [
            event_spec(c.event("plan"), key=(c.step_id, "PolicyEvaluated", "plan"))
            for c in checked.steps
        ]
        if checked.forbidden:
            await self._append(input.tenant_id, input.goal_id, input.at, [*head, *decisions])
            reasons = "; ".join(c.decision.reason for c in checked.forbidden)
            return PrepareResult(error=f"forbidden by policy: {reasons}")
        # A tool whose every step here needs a person waits before its activity starts, like
        # a tool that always requires approval; a step held only in some calls of its tool is
        # held when it is about to run (execute_step answers "needs approval").
        held = {c.tool for c in checked.needs_approval} - {
            c.tool for c in checked.steps if c.decision.outcome == "permit"
        }
        policies: dict[str, StepPolicy] = {}
        for step in plan.steps:
            spec = self.registry.get(step.tool)
            policies[spec.name] = step_policy(spec)
            if spec.name in held:
                policies[spec.name] = policies[spec.name].model_copy(
                    update={"requires_approval": True, "local": False}
                )
            if spec.compensation and spec.compensation.tool in self.registry:
                undo = self.registry.get(spec.compensation.tool)
                policies[undo.name] = step_policy(undo)
        # PlanGenerated v3 (contracts2): the steps as the plan has them, undo tools beside.
        undo_tools = {s.id: policies[s.tool].compensation_tool for s in plan.steps}
        generated = goal_event(
            PlanGenerated.model_validate(
                {
                    "plan_id": f"{input.goal_id}/plan",
                    "steps": plan.steps,
                    "compensations": {k: v for k, v in undo_tools.items() if v is not None},
                    "reasoning": plan.reasoning,
                }
                | made,
                strict=False,
            )
        )
        # The plan first, then the decisions on its steps (as a forbidden plan has no plan).
        try:
            await self._append(
                input.tenant_id, input.goal_id, input.at, [*head, generated, *decisions]
            )
        except ApplicationError as exc:
            # The plan's events refused for good (too large): the goal was still received.
            if head and exc.non_retryable:
                await self._append(input.tenant_id, input.goal_id, input.at, head)
            raise
        return PrepareResult(plan=plan, policies=policies)

    async def _check_plan(
        self, input: PlanningInput, plan: Plan, outside_texts: list[str]
    ) -> PlanCheck:
        """Decide every step of the plan (the caller records the decisions)."""
        return await asyncio.to_thread(
            self.guard.check_plan,
            tenant_id=input.tenant_id,
            user_id=input.user_id,
            goal=input.goal,
            context=dict(input.context),
            plan=plan,
            submitter_id=input.submitter_id,  # guard3: the real principal
            submitter_role=input.submitter_role,
            outside_texts=outside_texts,
        )

    async def _check_step(self, input: StepInput, started: EventSpec) -> StepCheck:
        """Decide one step with its resolved arguments and record the decision, with
        ``started`` after it when the tool may run (one thread hop and one transaction, both
        before the tool runs). Raise a non-retryable PolicyDeniedError when it is forbidden."""
        check, recorded = await asyncio.to_thread(self._decide_step, input, started)
        self._observe(input.tenant_id, input.goal_id, recorded)
        if check.decision.outcome == "forbid":
            denied = PolicyDeniedError(
                check.decision.reason,
                policy_ids=list(check.decision.policy_ids),
                version=check.decision.version,
            )
            raise ApplicationError(
                str(denied), type="PolicyDeniedError", non_retryable=True
            ) from denied
        return check

    def _completed(self, input: StepInput) -> bool:
        """Whether the goal's events already hold the step's StepCompleted (read on retries
        only)."""
        try:
            step = self.store.goal_state(input.tenant_id, input.goal_id).step(input.step_id)
        except OmniHubError as exc:
            raise _store_failure("cannot read the goal", exc) from exc
        return step is not None and step.status == "completed"

    def _decide_step(
        self, input: StepInput, started: EventSpec
    ) -> tuple[StepCheck, list[EventSpec]]:
        try:
            check = self.guard.check_step(
                tenant_id=input.tenant_id,
                goal_id=input.goal_id,
                step_id=input.step_id,
                tool=input.tool,
                args=input.args,
            )
        except OmniHubError as exc:
            raise _store_failure("cannot check policy", exc) from exc
        # Keyed by the outcome: the check that asks for a person and the one after the grant
        # are two decisions; a retried attempt repeats neither.
        outcome = check.decision.outcome
        decided = event_spec(
            check.event("step"), key=(input.step_id, "PolicyEvaluated", "step", outcome)
        )
        # Forbidden, or held for a person (known only now, from a value through $ref): the
        # tool does not run, and no StepStarted is recorded. Nor is one for a retried attempt
        # of a step already completed (its worker died after the step's last append and
        # before Temporal heard of it): a start after the end would leave the goal "running"
        # in its event stream, the last step's append having recorded GoalCompleted.
        quiet = outcome in ("forbid", "approval") or (
            activity.info().attempt > 1 and self._completed(input)
        )
        recorded = [decided] if quiet else [decided, started]
        self._store(input.tenant_id, input.goal_id, input.at, recorded)
        return check, recorded

    async def _run_tool(
        self, spec: ToolSpec, args: dict[str, Any], ctx: ToolContext, kind: str = "do"
    ) -> dict[str, Any]:
        """Run a tool with heartbeats in the background, so a dead worker is noticed within
        the heartbeat timeout even when the tool itself never heartbeats."""

        async def beat(every: float) -> None:
            while True:
                await asyncio.sleep(every)
                activity.heartbeat()

        # A local activity cannot heartbeat: its workflow task's timeout notices a dead worker.
        beating = (
            asyncio.create_task(beat(spec.heartbeat_timeout_s / 3))
            if spec.heartbeat_timeout_s and not activity.info().is_local
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
            heartbeat=_no_heartbeat if activity.info().is_local else activity.heartbeat,
        )

    @activity.defn(name="execute_step")
    async def execute_step(self, input: StepInput) -> StepResult:
        """One step: StepStarted, the tool call (once, through the ledger), ToolExecuted and
        StepCompleted; returns the output and the compensation to push."""
        ctx = self._context(input.tenant_id, input.goal_id, input.step_id, "do")
        spec = self.registry.get(input.tool)
        step = input.step_id
        # One StepStarted per attempt: each attempt is a new start. The decision and the start
        # go in one append (one transaction, in this order), both before the tool runs.
        started = event_spec(
            StepStarted(step_id=step, tool_name=spec.name),
            key=(step, "StepStarted", str(ctx.attempt)),
        )
        check = await self._check_step(input, started)
        if check.decision.outcome == "approval":
            # Only known now (a value through $ref): the workflow asks a person, then runs
            # the step again with the grant.
            return StepResult(output={}, attempt=ctx.attempt, needs_approval=check.decision.reason)
        began = time.perf_counter()
        output = await self._run_tool(spec, input.args, ctx)
        duration_ms = (time.perf_counter() - began) * 1000
        compensation = None
        if spec.side_effect and spec.compensation is not None:
            try:
                # The undo sees the arguments the tool ran with, defaults included: a mapped
                # argument the plan left to its default is not "missing" after the effect.
                ran_with = spec.input_model.model_validate(input.args).model_dump(mode="json")
                undo_args = spec.compensation.resolve(ran_with, output)
            except ToolError as exc:
                raise _application_error(exc, spec, ctx.attempt) from exc
            compensation = CompensationEntry(
                step_id=step, tool=spec.compensation.tool, args=undo_args
            )
        executed = ToolExecuted(
            tool_name=spec.name,
            input=input.args,
            output=output,
            duration_ms=round(duration_ms, 3),
            attempt=ctx.attempt,
            step_id=step,
        )
        completed = StepCompleted(step_id=step, result=output)
        recorded = [step_event(executed, step_id=step), step_event(completed, step_id=step)]
        positions, ended = await self._complete(input, recorded, output, ctx.attempt)
        # saga2: the StepCompleted's position (the same on a retry: appends are idempotent)
        # orders the workflow's compensation stack as the store recorded the completions.
        return StepResult(
            output=output,
            attempt=ctx.attempt,
            compensation=compensation,
            position=positions[1],
            ended=ended,
        )

    async def _complete(
        self, input: StepInput, recorded: list[EventSpec], output: dict[str, Any], attempt: int
    ) -> tuple[list[int], SagaMetrics | None]:
        """Append a step's completion; for the goal's last step (``input.finish``) with
        GoalCompleted in the same append, and the metrics it recorded. An end the store refuses
        for good (too large) leaves the step's events appended alone: the workflow then
        records the end itself and handles the refusal as it always has."""
        finish = input.finish
        if finish is not None:
            outputs = {**finish.outputs, input.step_id: output}
            metrics = SagaMetrics(
                duration_s=(datetime.now(UTC) - finish.started_at).total_seconds(),
                steps=finish.steps + 1,
                attempts=finish.attempts + attempt,
                runs=finish.runs,
            )
            end = final_event(
                "completed",
                outputs=outputs,
                answer=completed_answer(finish.answer_step, outputs),
                metrics=metrics,
                error=None,
                cancel=None,
                reports=(),
            )
            try:
                events = [*recorded, end]
                return await self._append(input.tenant_id, input.goal_id, input.at, events), metrics
            except ApplicationError as exc:
                if not exc.non_retryable:
                    raise
        return await self._append(input.tenant_id, input.goal_id, input.at, recorded), None

    @activity.defn(name="compensate_step")
    async def compensate_step(self, input: CompensateInput) -> dict[str, Any]:
        """Undo one step (once, through the ledger with the step's ``undo`` key) and record
        CompensationExecuted."""
        entry = input.entry
        ctx = self._context(input.tenant_id, input.goal_id, entry.step_id, "undo")
        spec = self.registry.get(entry.tool)
        output = await self._run_tool(spec, entry.args, ctx, "undo")
        done = step_event(
            CompensationExecuted(
                step_id=entry.step_id, tool_name=spec.name, input=entry.args, output=output
            ),
            step_id=entry.step_id,
        )
        await self._append(input.tenant_id, input.goal_id, input.at, [done])
        return output
