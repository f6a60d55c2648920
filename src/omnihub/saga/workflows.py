"""The AgentSaga workflow: a plan's DAG run durably, with approvals and LIFO compensation.

Deterministic code only: time comes from ``workflow.now()``, every effect and every event
goes through an activity (see :mod:`omnihub.saga.activities`). The seams live beside it:
approvals in ``_approvals``, compensation in ``_compensation``, events in ``_recording``,
retry policies and timeouts in ``_policy``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from omnihub.errors import ValidationError
    from omnihub.events import GoalPaused, GoalResumed, StepFailed
    from omnihub.plans import HOLD_PREFIX, Plan, ready_steps, resolve_refs
    from omnihub.saga._approvals import Approvals, args_hash
    from omnihub.saga._calls import attempts_spent, execute_step, prepare_goal, retryable
    from omnihub.saga._compensation import compensate
    from omnihub.saga._models import (
        ApprovalDecision,
        CompensationReport,
        ControlRequest,
        EventSpec,
        PlanningInput,
        PrepareResult,
        SagaInput,
        SagaMetrics,
        SagaResult,
        SagaState,
        StepFinish,
        StepPolicy,
        StepResult,
    )
    from omnihub.saga._outcome import answer_of, answer_step, final_event
    from omnihub.saga._policy import (
        bounded_retry,
        default_policy,
        failure_message,
        retry_policy,
        store_unavailable,
    )
    from omnihub.saga._progress import Progress
    from omnihub.saga._recording import EventRecorder, event_spec, step_event

# How a local activity's final failure reaches the workflow: Temporal's core hands over the
# activity's own ApplicationError (or a timeout), not always wrapped in an ActivityError.
LOCAL_FAILURES = (ActivityError, ApplicationError, TemporalTimeoutError)

# The longest failure message a goal's error keeps (a GoalFailed must fit in the store).
MAX_ERROR_CHARS = 2000

__all__ = ["BUDGET_STEP", "WORKFLOW_NAME", "AgentSaga", "failure_message", "retry_policy"]

WORKFLOW_NAME = "AgentSaga"

# The pseudo-step a goal held over its tenant's LLM budget waits on for approval: in the
# ``hold:`` namespace, which no plan step can name, so no step can inherit its approval.
BUDGET_STEP = f"{HOLD_PREFIX}budget"

# Patch id: the compensation stack is kept in the store's order of completion.
STACK_BY_POSITION = "stack-by-store-position"


def _short(message: str) -> str:
    if len(message) <= MAX_ERROR_CHARS:
        return message
    return message[: MAX_ERROR_CHARS - 1] + "…"


@workflow.defn(name=WORKFLOW_NAME)
class AgentSaga:
    """One goal: prepare, run the DAG, then complete, or compensate in LIFO order."""

    @workflow.init
    def __init__(self, input: SagaInput) -> None:
        carry = input.carry
        self._input = input
        self._recorder = EventRecorder(tenant_id=input.tenant_id, goal_id=input.goal_id)
        self._approvals = Approvals(carry)
        self._plan: Plan | None = input.plan
        self._progress = Progress.of(carry)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._cancel: ControlRequest | None = None
        self._failed_step: str | None = None
        self._error: str | None = None
        self._status = "running" if carry else "starting"
        self._wake = False
        self._deadline: asyncio.Task[None] | None = None
        # The metrics of the goal's end once the last step's activity recorded it.
        self._ended: SagaMetrics | None = None

    # -- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: SagaInput) -> SagaResult:
        if self._progress.started_at is None:
            self._progress.started_at = workflow.now()
        if input.options.deadline_s is not None:
            self._deadline = asyncio.create_task(self._expire(input.options.deadline_s))
        if input.carry is None:
            prepare = PlanningInput.for_goal(input, at=workflow.now())
            prepared = await self._prepare(prepare)
            if prepared.held is not None:
                prepared = await self._hold_for_budget(prepare, prepared.held)
            if prepared.plan is None:
                self._error = prepared.error or "no plan"
                return await self._finish("cancelled" if self._cancel else "failed")
            self._plan, self._progress.policies = prepared.plan, dict(prepared.policies)
        self._status = "running"
        plan = self._plan
        assert plan is not None
        for step_id in list(self._approvals.pending):
            self._spawn(step_id, resume=True)
        while not self._stopping():
            due = self._continue_as_new_due()
            if not self._progress.paused and not due:
                started = self._progress.outputs.keys() | self._running.keys()
                for step_id in ready_steps(plan, self._progress.outputs.keys(), started):
                    if len(self._running) >= input.options.max_parallel_steps:
                        break
                    self._spawn(step_id)
            if not self._running and len(self._progress.outputs) == len(plan.steps):
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
        if self._ended is not None:
            # The cancel came while the last step ran, after which nothing was left to stop:
            # that step's activity recorded the goal as completed, and so it ends.
            return await self._finish("completed")
        self._status = "compensating"
        reports = await compensate(
            self._progress.stack, policy_for=self._policy, recorder=self._recorder
        )
        return await self._finish("cancelled" if self._cancel else "failed", reports)

    async def _hold_for_budget(self, prepare: PlanningInput, reason: str) -> PrepareResult:
        """The tenant is over its LLM budget and the setting is "hold": planning waits for a
        person's approval of the pseudo-step ``hold:budget`` (an update like any approval, with
        the same durable timeout), then plans again past the budget. Rejected or timed out,
        the goal fails with the reason."""
        self._status = "awaiting_approval"
        if not await self._await_approval(
            BUDGET_STEP, "planner", {"reason": reason}, risk="red", resume=False
        ):
            return PrepareResult(error=self._error or f"held over budget: {reason}")
        again = prepare.model_copy(update={"budget_approved": True, "at": workflow.now()})
        return await self._prepare(again)

    async def _prepare(self, prepare: PlanningInput) -> PrepareResult:
        """``prepare_goal`` with bounded tries: whatever breaks it for good (an event the
        store refuses, an unexpected error in planning or validation) becomes the goal's
        error, so the goal fails with GoalFailed instead of retrying forever."""
        while True:
            try:
                return await prepare_goal(prepare, retry=self._bounded())
            except LOCAL_FAILURES as exc:
                if not store_unavailable(exc):
                    error = f"cannot prepare the goal: {failure_message(exc)}"
                    return PrepareResult(error=_short(error))

    async def _record_end(self, event: EventSpec) -> None:
        """Record the goal's final event, giving up (raising the failure) after bounded tries unless
        the store is merely unavailable."""
        while True:
            try:
                await self._recorder.record(event, retry=self._bounded())
                return
            except LOCAL_FAILURES as exc:
                if not store_unavailable(exc):
                    raise

    def _bounded(self) -> RetryPolicy:
        return bounded_retry(self._input.options.prepare_attempts)

    async def _expire(self, deadline_s: float) -> None:
        """The goal's deadline: a durable timer from the goal's start (so a continued run
        waits only for what is left); when it fires the goal is cancelled like a cancel
        request, with the deadline as the recorded reason, and its steps are undone."""
        assert self._progress.started_at is not None
        end = self._progress.started_at + timedelta(seconds=deadline_s)
        left = (end - workflow.now()).total_seconds()
        if left > 0:
            await workflow.sleep(left)
        if not self._stopping():
            self._cancel = ControlRequest(
                by="deadline", reason=f"the goal's deadline of {deadline_s:g} s passed"
            )
            self._wake = True

    def _stopping(self) -> bool:
        return self._failed_step is not None or self._cancel is not None

    def _executing(self) -> list[str]:
        """Steps running an activity (not just waiting for a decision)."""
        return [step_id for step_id in self._running if step_id not in self._approvals.pending]

    def _continue_as_new_due(self) -> bool:
        return (
            self._progress.steps_this_run >= self._input.options.continue_as_new_after_steps
            or workflow.info().is_continue_as_new_suggested()
        )

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        carry = self._progress.carry(self._approvals)
        workflow.continue_as_new(
            self._input.model_copy(update={"plan": self._plan, "carry": carry})
        )

    def _spawn(self, step_id: str, *, resume: bool = False) -> None:
        self._running[step_id] = asyncio.create_task(self._run_step(step_id, resume))

    def _policy(self, tool: str) -> StepPolicy:
        return self._progress.policies.get(tool) or default_policy(tool)

    def _last_step(self, step_id: str) -> StepFinish | None:
        """What ``step_id``'s activity needs to record the goal's end with the step's own
        events, when it is the goal's last step (every other step done, none running, the
        goal not stopping): one local activity and one append less per goal."""
        plan, progress = self._plan, self._progress
        assert plan is not None
        assert progress.started_at is not None
        if (
            self._stopping()
            or set(self._running) != {step_id}
            or len(progress.outputs) != len(plan.steps) - 1
        ):
            return None
        return StepFinish(
            outputs=dict(progress.outputs),
            answer_step=answer_step(plan),
            started_at=progress.started_at,
            steps=progress.steps_done,
            attempts=progress.attempts,
            runs=progress.runs,
        )

    # -- one step --------------------------------------------------------------------------

    async def _run_step(self, step_id: str, resume: bool) -> None:
        assert self._plan is not None
        step = self._plan.step(step_id)
        policy = self._policy(step.tool)
        try:
            # Resolved first, so the approver sees (and approves) what will actually run.
            try:
                args = resolve_refs(step.args, self._progress.outputs)
            except ValidationError as exc:
                await self._fail_step(step_id, str(exc))
                return
            if (
                # guard2: ``or resume``: a step held by the policy at step time has no
                # requires_approval; its pending approval still resumes after continue-as-new.
                (policy.requires_approval or resume)
                and not self._approvals.granted(step_id, step.tool, args_hash(args))
                and not await self._await_approval(
                    step_id, step.tool, args, risk=policy.risk, resume=resume
                )
            ):
                return

            async def run() -> StepResult:  # guard2: a step held by the policy runs twice
                return await execute_step(
                    tenant_id=self._input.tenant_id,
                    goal_id=self._input.goal_id,
                    step_id=step_id,
                    tool=step.tool,
                    args=args,
                    policy=policy,
                    # Decided at each call: a cancel may come while a person decides.
                    finish=self._last_step(step_id),
                )

            try:
                result = await run()
                # guard2 (begin): the tenant's policy held the call for a person, decided on
                # the resolved arguments (the tool did not run): ask, then run it again.
                if result.needs_approval is not None:
                    if not await self._await_approval(
                        step_id, step.tool, args, risk=policy.risk, resume=False
                    ):
                        return
                    result = await run()
                # guard2 (end)
            except LOCAL_FAILURES as exc:  # a local step's failure may arrive unwrapped
                self._progress.attempts += attempts_spent(exc, policy)
                await self._fail_step(
                    step_id, failure_message(exc), retryable=retryable(exc, policy)
                )
                return
            if result.needs_approval is not None:  # guard2: held again after the grant
                await self._fail_step(step_id, result.needs_approval)
                return
            self._progress.outputs[step_id] = result.output
            self._progress.attempts += result.attempt
            self._progress.steps_done += 1
            self._progress.steps_this_run += 1
            self._ended = result.ended
            if result.compensation is not None:
                entry = result.compensation.model_copy(update={"position": result.position})
                # Patched: ordering by position can change the order of compensation commands
                # against a history whose workflow stacked results as they arrived.
                self._progress.push(entry, by_position=workflow.patched(STACK_BY_POSITION))
        finally:
            del self._running[step_id]
            self._wake = True

    async def _fail_step(self, step_id: str, error: str, *, retryable: bool = False) -> None:
        """Record a step's failure; the first one fails the goal. ``retryable`` says whether
        running the step again might succeed (a rejection or a bad reference never does)."""
        if self._failed_step is None:
            self._failed_step, self._error = step_id, error
        failed = StepFailed(step_id=step_id, error=error, retryable=retryable)
        await self._recorder.record(step_event(failed, step_id=step_id))

    async def _await_approval(
        self, step_id: str, tool: str, args: dict[str, Any], *, risk: str, resume: bool
    ) -> bool:
        decision = await self._approvals.wait(
            step_id=step_id,
            tool=tool,
            args=args,
            risk=risk,
            resume=resume,
            timeout_s=self._input.options.approval_timeout_s,
            stopping=self._stopping,
            recorder=self._recorder,
        )
        if decision is None:  # the goal is stopping; the step never runs
            return False
        if not decision.approved:
            why = decision.reason or "no reason given"
            await self._fail_step(step_id, f"approval rejected by {decision.decided_by}: {why}")
        return decision.approved

    # -- the end ---------------------------------------------------------------------------

    async def _finish(
        self, status: str, reports: list[CompensationReport] | None = None
    ) -> SagaResult:
        reports = reports or []
        if self._deadline is not None:
            self._deadline.cancel()  # the goal is ending: its deadline no longer applies
        metrics = self._ended or self._progress.metrics(workflow.now())
        answer = answer_of(self._plan, self._progress.outputs)
        final = final_event(
            status,
            outputs=self._progress.outputs,
            answer=answer,
            metrics=metrics,
            error=self._error,
            cancel=self._cancel,
            reports=reports,
        )
        try:
            if self._ended is None:  # else the last step's activity recorded it
                await self._record_end(final)
        except LOCAL_FAILURES as exc:
            # The end cannot be recorded (too large for the store, or an error that persists):
            # the goal fails instead, its effects undone if it had completed, with a small
            # GoalFailed (no partial results) the store takes.
            self._error = _short(f"cannot record the goal's end: {failure_message(exc)}")
            if status == "completed":
                self._status = "compensating"
                reports = await compensate(
                    self._progress.stack, policy_for=self._policy, recorder=self._recorder
                )
            status = "failed"
            failed = final_event(
                status,
                outputs={},
                answer=None,
                metrics=metrics,
                error=self._error,
                cancel=None,
                reports=reports,
            )
            await self._record_end(failed)
        self._status = status
        await workflow.wait_condition(workflow.all_handlers_finished)
        return SagaResult(
            goal_id=self._input.goal_id,
            status=status,
            outputs=self._progress.outputs,
            answer=answer,
            error=self._error if status != "completed" else None,
            failed_step=self._failed_step,
            compensations=reports,
            metrics=metrics,
        )

    # -- people and callers ----------------------------------------------------------------

    @workflow.update
    async def decide(self, decision: ApprovalDecision) -> ApprovalDecision:
        """Approve or reject a waiting step; returns once the decision is recorded."""
        self._approvals.offer(decision)
        self._wake = True
        await workflow.wait_condition(
            lambda: self._approvals.recorded(decision.step_id) or self._stopping()
        )
        return decision

    @decide.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        self._approvals.check(decision)

    @workflow.signal
    async def cancel(self, request: ControlRequest) -> None:
        """Stop starting steps, let running ones end, compensate, and end as cancelled.

        Too late once the goal's last step runs (its activity records the goal's end with
        it): the goal then completes."""
        if self._cancel is None and self._status not in ("completed", "failed", "cancelled"):
            self._cancel = request
            self._wake = True

    @workflow.signal
    async def pause(self, request: ControlRequest) -> None:
        """Start no new steps until resumed (running steps finish)."""
        if not self._progress.paused:
            self._progress.paused = True
            await self._control(GoalPaused(by=request.by, reason=request.reason))

    @workflow.signal
    async def resume(self, request: ControlRequest) -> None:
        """Start steps again after a pause."""
        if self._progress.paused:
            self._progress.paused = False
            await self._control(GoalResumed(by=request.by, reason=request.reason))

    async def _control(self, payload: GoalPaused | GoalResumed) -> None:
        self._progress.controls += 1
        self._wake = True
        # Keyed by the count of controls: a goal may be paused and resumed many times.
        key = (payload.event_type, str(self._progress.controls))
        await self._recorder.record(event_spec(payload, key=key))

    @workflow.query
    def state(self) -> SagaState:
        """Status, plan, running and completed steps, compensation stack, pending approvals."""
        status = self._status
        if status == "running":
            if self._stopping():
                status = "compensating" if not self._running else "running"
            elif self._progress.paused:
                status = "paused"
            elif self._approvals.pending and not self._executing():
                status = "awaiting_approval"
        return SagaState(
            goal_id=self._input.goal_id,
            tenant_id=self._input.tenant_id,
            status=status,
            plan=self._plan,
            running_steps=self._executing(),
            completed_steps=list(self._progress.outputs),
            failed_step=self._failed_step,
            compensation_stack=list(self._progress.stack),
            pending_approvals=self._approvals.waiting(),
            outputs=self._progress.outputs,
            paused=self._progress.paused,
            runs=self._progress.runs,
        )
