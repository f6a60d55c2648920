"""Approvals inside the workflow: steps waiting for a person, the decisions, their events.

Deterministic code for :mod:`omnihub.saga.workflows`: a decision arrives as a Temporal update,
waits here until the step takes it (or the approval deadline passes, a durable timer), and is
recorded as ApprovalGranted or ApprovalRejected.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from omnihub.events import ApprovalGranted, ApprovalRejected, ApprovalRequested
    from omnihub.plans import PlanStep
    from omnihub.saga._models import ApprovalDecision, PendingApproval, SagaCarry, StepPolicy
    from omnihub.saga._recording import EventRecorder, step_event


class Approvals:
    """The steps waiting for a decision, the decisions received and those recorded."""

    def __init__(self, carry: SagaCarry | None) -> None:
        self.pending: dict[str, PendingApproval] = (
            {p.step_id: p for p in carry.pending_approvals} if carry else {}
        )
        self.approved: set[str] = set(carry.approved) if carry else set()
        self._decisions: dict[str, ApprovalDecision] = {}
        self._decided: set[str] = set()

    def check(self, decision: ApprovalDecision) -> None:
        """Refuse a decision for a step that is not waiting (the update's validator)."""
        if decision.step_id not in self.pending or decision.step_id in self._decisions:
            raise ValueError(f"step {decision.step_id!r} is not waiting for approval")

    def offer(self, decision: ApprovalDecision) -> None:
        """Hand a decision to the waiting step."""
        self._decisions[decision.step_id] = decision

    def recorded(self, step_id: str) -> bool:
        """Whether the decision on ``step_id`` took effect (and its event is recorded)."""
        return step_id in self._decided

    async def wait(
        self,
        step: PlanStep,
        policy: StepPolicy,
        *,
        resume: bool,
        timeout_s: float,
        stopping: Callable[[], bool],
        recorder: EventRecorder,
    ) -> ApprovalDecision | None:
        """Ask for a decision on ``step`` (unless ``resume``: it was asked before a continue-as
        -new) and wait for it; a timeout is a rejection by ``system``. None when the goal
        stops first (the step never runs)."""
        step_id = step.id
        if resume:
            pending = self.pending[step_id]
        else:
            now = workflow.now()
            deadline = now + timedelta(seconds=timeout_s)
            pending = PendingApproval(
                step_id=step_id,
                tool=step.tool,
                args=step.args,
                risk=policy.risk,
                requested_at=now,
                deadline=deadline,
            )
            self.pending[step_id] = pending
            requested = ApprovalRequested(
                step_id=step_id,
                tool_name=step.tool,
                args=step.args,
                risk_lane=policy.risk,
                expires_at=deadline,
            )
            await recorder.record(step_event(requested, step_id=step_id))
        remaining = (pending.deadline - workflow.now()).total_seconds()
        try:
            await workflow.wait_condition(
                lambda: step_id in self._decisions or stopping(),
                timeout=max(remaining, 0.001),
            )
            decision = self._decisions.get(step_id)
            timed_out = False
        except TimeoutError:
            decision = ApprovalDecision(
                step_id=step_id, approved=False, decided_by="system", reason="approval timed out"
            )
            timed_out = True
        if decision is None:
            return None
        del self.pending[step_id]
        if decision.approved:
            granted = ApprovalGranted(
                step_id=step_id, decided_by=decision.decided_by, reason=decision.reason
            )
            await recorder.record(step_event(granted, step_id=step_id))
            self.approved.add(step_id)
        else:
            rejected = ApprovalRejected(
                step_id=step_id,
                decided_by=decision.decided_by,
                reason=decision.reason,
                timed_out=timed_out,
            )
            await recorder.record(step_event(rejected, step_id=step_id))
        self._decided.add(step_id)
        return decision
