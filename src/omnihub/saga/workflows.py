"""The AgentSaga workflow: a plan's DAG run durably, with approvals and LIFO compensation.

Deterministic code only: time comes from ``workflow.now()``, every effect and every event
goes through an activity (see :mod:`omnihub.saga.activities`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from omnihub.errors import ValidationError
    from omnihub.plans import Plan, PlanStep, ready_steps, resolve_refs
    from omnihub.saga._models import (
        ApprovalDecision,
        CompensateInput,
        CompensationEntry,
        CompensationReport,
        ControlRequest,
        EventSpec,
        PendingApproval,
        PrepareInput,
        PrepareResult,
        RecordEventsInput,
        RetryPolicyModel,
        SagaCarry,
        SagaInput,
        SagaMetrics,
        SagaResult,
        SagaState,
        StepInput,
        StepPolicy,
        StepResult,
    )

WORKFLOW_NAME = "AgentSaga"
_LOCAL_TIMEOUT = timedelta(seconds=60)
_RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    non_retryable_error_types=["ValidationError", "PayloadTooLargeError"],
)


def _event(event_type: str, payload: dict[str, Any], *key_parts: str) -> EventSpec:
    return EventSpec(event_type=event_type, payload=payload, key_parts=list(key_parts))


def retry_policy(model: RetryPolicyModel) -> RetryPolicy:
    """Temporal's retry policy for a tool's retry settings."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=model.initial_interval_s),
        backoff_coefficient=model.backoff,
        maximum_interval=timedelta(seconds=model.max_interval_s),
        maximum_attempts=model.max_attempts,
        non_retryable_error_types=model.non_retryable_error_types or None,
    )


def failure_message(exc: BaseException) -> str:
    """The innermost failure's message: what the tool said, not Temporal's wrapper."""
    while isinstance(exc, ActivityError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, ApplicationError) and exc.type:
        return f"{exc.type}: {exc.message}"
    return str(exc) or type(exc).__name__


# The pseudo-step a goal held over its tenant's LLM budget waits on for approval.
BUDGET_STEP = "budget"


def _default_policy(tool: str) -> StepPolicy:
    return StepPolicy(
        tool=tool,
        side_effect=True,
        requires_approval=False,
        risk="yellow",
        retry=RetryPolicyModel(
            initial_interval_s=1.0, backoff=2.0, max_interval_s=60.0, max_attempts=5
        ),
        start_to_close_timeout_s=30.0,
        heartbeat_timeout_s=10.0,
    )


@workflow.defn(name=WORKFLOW_NAME)
class AgentSaga:
    """One goal: prepare, run the DAG, then complete, or compensate in LIFO order."""

    @workflow.init
    def __init__(self, input: SagaInput) -> None:
        carry = input.carry
        self._input = input
        self._plan: Plan | None = input.plan
        self._policies: dict[str, StepPolicy] = dict(carry.policies) if carry else {}
        self._outputs: dict[str, dict[str, Any]] = dict(carry.outputs) if carry else {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stack: list[CompensationEntry] = list(carry.compensations) if carry else []
        self._pending: dict[str, PendingApproval] = (
            {p.step_id: p for p in carry.pending_approvals} if carry else {}
        )
        self._approved: set[str] = set(carry.approved) if carry else set()
        self._decisions: dict[str, ApprovalDecision] = {}
        self._decided: set[str] = set()
        self._attempts = carry.attempts if carry else 0
        self._steps_done = carry.steps_done if carry else 0
        self._steps_this_run = 0
        self._runs = carry.runs if carry else 1
        self._paused = carry.paused if carry else False
        self._controls = carry.controls if carry else 0
        self._cancel: ControlRequest | None = None
        self._failed_step: str | None = None
        self._error: str | None = None
        self._status = "running" if carry else "starting"
        self._started_at = carry.started_at if carry else None
        self._wake = False

    # -- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: SagaInput) -> SagaResult:
        if self._started_at is None:
            self._started_at = workflow.now()
        if input.carry is None:
            prepare = PrepareInput(
                tenant_id=input.tenant_id,
                goal_id=input.goal_id,
                goal=input.goal,
                user_id=input.user_id,
                plan=input.plan,
                at=workflow.now(),
                context=input.context,
            )
            prepared = await self._prepare(prepare)
            if prepared.held is not None:
                prepared = await self._hold_for_budget(prepare, prepared.held)
            if prepared.plan is None:
                self._error = prepared.error or "no plan"
                return await self._finish("failed")
            self._plan, self._policies = prepared.plan, dict(prepared.policies)
        self._status = "running"
        plan = self._plan
        assert plan is not None
        for step_id in list(self._pending):
            self._spawn(step_id, resume=True)
        while not self._stopping():
            due = self._continue_as_new_due()
            if not self._paused and not due:
                started = self._outputs.keys() | self._running.keys()
                for step_id in ready_steps(plan, self._outputs.keys(), started):
                    if len(self._running) >= input.options.max_parallel_steps:
                        break
                    self._spawn(step_id)
            if not self._running and len(self._outputs) == len(plan.steps):
                return await self._finish("completed")
            if due and not self._executing():
                await self._continue_as_new()
            self._wake = False
            try:
                await workflow.wait_condition(lambda: self._wake)
            except asyncio.CancelledError:
                # Cancelling the workflow through Temporal is a cancel like the signal: the
                # goal still unwinds its compensations instead of stopping half-done.
                self._cancel = self._cancel or ControlRequest(
                    by="temporal", reason="workflow cancellation requested"
                )
        # A step failed or the goal was cancelled: let running steps end, then unwind.
        await workflow.wait_condition(lambda: not self._running)
        reports = await self._compensate()
        return await self._finish("cancelled" if self._cancel else "failed", reports)

    async def _prepare(self, prepare: PrepareInput) -> PrepareResult:
        prepared: PrepareResult = await workflow.execute_local_activity(
            "prepare_goal",
            prepare,
            result_type=PrepareResult,
            start_to_close_timeout=_LOCAL_TIMEOUT,
            retry_policy=_RECORD_RETRY,
        )
        return prepared

    async def _hold_for_budget(self, prepare: PrepareInput, reason: str) -> PrepareResult:
        """The tenant is over its LLM budget and the setting is "hold": planning waits for a
        person's approval of the pseudo-step ``budget`` (an update like any approval, with the
        same durable timeout), then plans again past the budget. Rejected or timed out, the
        goal fails with the reason."""
        self._status = "awaiting_approval"
        step = PlanStep(id=BUDGET_STEP, tool="planner", args={"reason": reason})
        policy = _default_policy("planner").model_copy(
            update={"side_effect": False, "requires_approval": True, "risk": "red"}
        )
        if not await self._await_approval(step, policy, resume=False):
            return PrepareResult(error=self._error or f"held over budget: {reason}")
        approved = prepare.model_copy(update={"budget_approved": True, "at": workflow.now()})
        return await self._prepare(approved)

    def _stopping(self) -> bool:
        return self._failed_step is not None or self._cancel is not None

    def _executing(self) -> list[str]:
        """Steps running an activity (not just waiting for a decision)."""
        return [step_id for step_id in self._running if step_id not in self._pending]

    def _continue_as_new_due(self) -> bool:
        return (
            self._steps_this_run >= self._input.options.continue_as_new_after_steps
            or workflow.info().is_continue_as_new_suggested()
        )

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._started_at is not None
        carry = SagaCarry(
            policies=self._policies,
            outputs=self._outputs,
            compensations=self._stack,
            pending_approvals=list(self._pending.values()),
            approved=sorted(self._approved),
            attempts=self._attempts,
            steps_done=self._steps_done,
            runs=self._runs + 1,
            started_at=self._started_at,
            paused=self._paused,
            controls=self._controls,
        )
        workflow.continue_as_new(
            self._input.model_copy(update={"plan": self._plan, "carry": carry})
        )

    def _spawn(self, step_id: str, *, resume: bool = False) -> None:
        self._running[step_id] = asyncio.create_task(self._run_step(step_id, resume))

    def _policy(self, tool: str) -> StepPolicy:
        return self._policies.get(tool) or _default_policy(tool)

    # -- one step --------------------------------------------------------------------------

    async def _run_step(self, step_id: str, resume: bool) -> None:
        assert self._plan is not None
        step = self._plan.step(step_id)
        policy = self._policy(step.tool)
        try:
            if (
                policy.requires_approval
                and step_id not in self._approved
                and not await self._await_approval(step, policy, resume)
            ):
                return
            try:
                args = resolve_refs(step.args, self._outputs)
            except ValidationError as exc:
                await self._fail_step(step_id, str(exc))
                return
            try:
                result = await workflow.execute_activity(
                    "execute_step",
                    StepInput(
                        tenant_id=self._input.tenant_id,
                        goal_id=self._input.goal_id,
                        step_id=step_id,
                        tool=step.tool,
                        args=args,
                        at=workflow.now(),
                    ),
                    result_type=StepResult,
                    start_to_close_timeout=timedelta(seconds=policy.start_to_close_timeout_s),
                    heartbeat_timeout=(
                        timedelta(seconds=policy.heartbeat_timeout_s)
                        if policy.heartbeat_timeout_s
                        else None
                    ),
                    retry_policy=retry_policy(policy.retry),
                )
            except ActivityError as exc:
                exhausted = exc.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
                self._attempts += policy.retry.max_attempts if exhausted else 1
                await self._fail_step(step_id, failure_message(exc))
                return
            self._outputs[step_id] = result.output
            self._attempts += result.attempt
            self._steps_done += 1
            self._steps_this_run += 1
            if result.compensation is not None:
                self._stack.append(result.compensation)
        finally:
            del self._running[step_id]
            self._wake = True

    async def _fail_step(self, step_id: str, error: str) -> None:
        if self._failed_step is None:
            self._failed_step, self._error = step_id, error
        await self._record(
            _event("StepFailed", {"step_id": step_id, "error": error}, step_id, "StepFailed")
        )

    async def _await_approval(self, step: PlanStep, policy: StepPolicy, resume: bool) -> bool:
        step_id = step.id
        if resume:
            pending = self._pending[step_id]
        else:
            now = workflow.now()
            deadline = now + timedelta(seconds=self._input.options.approval_timeout_s)
            pending = PendingApproval(
                step_id=step_id,
                tool=step.tool,
                args=step.args,
                risk=policy.risk,
                requested_at=now,
                deadline=deadline,
            )
            self._pending[step_id] = pending
            await self._record(
                _event(
                    "ApprovalRequested",
                    {
                        "step_id": step_id,
                        "tool_name": step.tool,
                        "args": step.args,
                        "risk_lane": policy.risk,
                        "expires_at": deadline,
                    },
                    step_id,
                    "ApprovalRequested",
                )
            )
        remaining = (pending.deadline - workflow.now()).total_seconds()
        try:
            await workflow.wait_condition(
                lambda: step_id in self._decisions or self._stopping(),
                timeout=max(remaining, 0.001),
            )
            decision = self._decisions.get(step_id)
            timed_out = False
        except TimeoutError:
            decision = ApprovalDecision(
                step_id=step_id, approved=False, decided_by="system", reason="approval timed out"
            )
            timed_out = True
        if decision is None:  # the goal is stopping; the step never runs
            return False
        del self._pending[step_id]
        who = {"step_id": step_id, "decided_by": decision.decided_by, "reason": decision.reason}
        if decision.approved:
            await self._record(_event("ApprovalGranted", who, step_id, "ApprovalGranted"))
            self._approved.add(step_id)
        else:
            rejected = {**who, "timed_out": timed_out}
            await self._record(_event("ApprovalRejected", rejected, step_id, "ApprovalRejected"))
        self._decided.add(step_id)
        if not decision.approved:
            why = decision.reason or "no reason given"
            await self._fail_step(step_id, f"approval rejected by {decision.decided_by}: {why}")
        return decision.approved

    # -- the end ---------------------------------------------------------------------------

    async def _compensate(self) -> list[CompensationReport]:
        """Undo every pushed step in strict LIFO order, one at a time; a compensation that
        finally fails is recorded and the rest still run."""
        self._status = "compensating"
        reports: list[CompensationReport] = []
        while self._stack:
            entry = self._stack[-1]
            policy = self._policy(entry.tool)
            try:
                output = await workflow.execute_activity(
                    "compensate_step",
                    CompensateInput(
                        tenant_id=self._input.tenant_id,
                        goal_id=self._input.goal_id,
                        entry=entry,
                        at=workflow.now(),
                    ),
                    result_type=dict,
                    start_to_close_timeout=timedelta(seconds=policy.start_to_close_timeout_s),
                    heartbeat_timeout=(
                        timedelta(seconds=policy.heartbeat_timeout_s)
                        if policy.heartbeat_timeout_s
                        else None
                    ),
                    retry_policy=retry_policy(policy.retry),
                )
                reports.append(
                    CompensationReport(
                        step_id=entry.step_id, tool=entry.tool, status="executed", output=output
                    )
                )
            except ActivityError as exc:
                error = failure_message(exc)
                await self._record(
                    _event(
                        "CompensationFailed",
                        {"step_id": entry.step_id, "tool_name": entry.tool, "error": error},
                        entry.step_id,
                        "CompensationFailed",
                    )
                )
                reports.append(
                    CompensationReport(
                        step_id=entry.step_id, tool=entry.tool, status="failed", error=error
                    )
                )
            self._stack.pop()
        return reports

    def _answer(self) -> str | None:
        answer = None
        for step in self._plan.steps if self._plan else ():
            output = self._outputs.get(step.id)
            if step.tool == "respond_to_user" and output is not None:
                answer = str(output.get("message"))
        return answer

    async def _finish(
        self, status: str, reports: list[CompensationReport] | None = None
    ) -> SagaResult:
        assert self._started_at is not None
        reports = reports or []
        metrics = SagaMetrics(
            duration_s=(workflow.now() - self._started_at).total_seconds(),
            steps=self._steps_done,
            attempts=self._attempts,
            runs=self._runs,
        )
        summary = [f"{r.step_id}:{r.tool}:{r.status}" for r in reports]
        if status == "completed":
            result = {"outputs": self._outputs, "answer": self._answer()}
            final = _event(
                "GoalCompleted",
                {"result": result, "metrics": metrics.model_dump()},
                "GoalCompleted",
            )
        elif status == "failed":
            final = _event(
                "GoalFailed",
                {
                    "error": self._error or "failed",
                    "partial_results": self._outputs,
                    "compensations": summary,
                },
                "GoalFailed",
            )
        else:
            assert self._cancel is not None
            final = _event(
                "GoalCancelled",
                {
                    "reason": self._cancel.reason or "cancelled",
                    "cancelled_by": self._cancel.by,
                    "partial_results": self._outputs,
                    "compensations": summary,
                },
                "GoalCancelled",
            )
        await self._record(final)
        self._status = status
        await workflow.wait_condition(workflow.all_handlers_finished)
        return SagaResult(
            goal_id=self._input.goal_id,
            status=status,
            outputs=self._outputs,
            answer=self._answer(),
            error=self._error if status != "completed" else None,
            failed_step=self._failed_step,
            compensations=reports,
            metrics=metrics,
        )

    async def _record(self, *events: EventSpec) -> None:
        await workflow.execute_local_activity(
            "record_events",
            RecordEventsInput(
                tenant_id=self._input.tenant_id,
                goal_id=self._input.goal_id,
                at=workflow.now(),
                events=list(events),
            ),
            start_to_close_timeout=_LOCAL_TIMEOUT,
            retry_policy=_RECORD_RETRY,
        )

    # -- people and callers ----------------------------------------------------------------

    @workflow.update
    async def decide(self, decision: ApprovalDecision) -> ApprovalDecision:
        """Approve or reject a waiting step; returns once the decision is recorded."""
        self._decisions[decision.step_id] = decision
        self._wake = True
        await workflow.wait_condition(lambda: decision.step_id in self._decided or self._stopping())
        return decision

    @decide.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        if decision.step_id not in self._pending or decision.step_id in self._decisions:
            raise ValueError(f"step {decision.step_id!r} is not waiting for approval")

    @workflow.signal
    async def cancel(self, request: ControlRequest) -> None:
        """Stop starting steps, let running ones end, compensate, and end as cancelled."""
        if self._cancel is None and self._status not in ("completed", "failed", "cancelled"):
            self._cancel = request
            self._wake = True

    @workflow.signal
    async def pause(self, request: ControlRequest) -> None:
        """Start no new steps until resumed (running steps finish)."""
        if not self._paused:
            self._paused = True
            await self._control("GoalPaused", request)

    @workflow.signal
    async def resume(self, request: ControlRequest) -> None:
        """Start steps again after a pause."""
        if self._paused:
            self._paused = False
            await self._control("GoalResumed", request)

    async def _control(self, event_type: str, request: ControlRequest) -> None:
        self._controls += 1
        self._wake = True
        payload = {"by": request.by, "reason": request.reason}
        await self._record(_event(event_type, payload, event_type, str(self._controls)))

    @workflow.query
    def state(self) -> SagaState:
        """Status, plan, running and completed steps, compensation stack, pending approvals."""
        status = self._status
        if status == "running":
            if self._stopping():
                status = "compensating" if not self._running else "running"
            elif self._paused:
                status = "paused"
            elif self._pending and not self._executing():
                status = "awaiting_approval"
        return SagaState(
            goal_id=self._input.goal_id,
            tenant_id=self._input.tenant_id,
            status=status,
            plan=self._plan,
            running_steps=self._executing(),
            completed_steps=list(self._outputs),
            failed_step=self._failed_step,
            compensation_stack=list(self._stack),
            pending_approvals=list(self._pending.values()),
            outputs=self._outputs,
            paused=self._paused,
            runs=self._runs,
        )
