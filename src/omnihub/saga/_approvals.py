"""Approvals inside the workflow: steps waiting for a person, the decisions, their events.

Deterministic code for :mod:`omnihub.saga.workflows`: a decision arrives as a Temporal update,
waits here until the step takes it (or the approval deadline passes, a durable timer), and is
recorded as ApprovalGranted or ApprovalRejected.

An approval binds one (step id, tool, resolved arguments): a grant is kept under all three, so
no other step, tool or argument set can run on it. Holds (pseudo-steps such as
``hold:budget``, which wait before the goal has a plan) are kept apart from plan steps and
never grant anything to a step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from omnihub.events import (
        ApprovalGranted,
        ApprovalRejected,
        ApprovalRequested,
        canonical_json,
    )
    from omnihub.plans import is_reserved_step_id
    from omnihub.saga._models import (
        ApprovalDecision,
        ApprovalGrant,
        PendingApproval,
        SagaCarry,
    )
    from omnihub.saga._recording import EventRecorder, step_event


def args_hash(args: dict[str, Any]) -> str:
    """SHA-256 of a step's resolved arguments as canonical JSON (RFC 8785)."""
    return hashlib.sha256(canonical_json(args).encode()).hexdigest()


class Approvals:
    """The steps and holds waiting for a decision, the decisions received, the grants."""

    def __init__(self, carry: SagaCarry | None) -> None:
        self.pending: dict[str, PendingApproval] = (
            {p.step_id: p for p in carry.pending_approvals} if carry else {}
        )
        # Holds end before the plan runs, so a continue-as-new never has one to carry.
        self.holds: dict[str, PendingApproval] = {}
        self.grants: set[ApprovalGrant] = set(carry.grants) if carry else set()
        self._decisions: dict[str, ApprovalDecision] = {}
        self._decided: set[str] = set()

    def waiting(self) -> list[PendingApproval]:
        """Every approval asked for and not decided yet: holds first, then steps."""
        return [*self.holds.values(), *self.pending.values()]

    def granted(self, step_id: str, tool: str, digest: str) -> bool:
        """Whether a person approved exactly this step, tool and arguments."""
        return ApprovalGrant(step_id=step_id, tool=tool, args_hash=digest) in self.grants

    def check(self, decision: ApprovalDecision) -> None:
        """Refuse a decision nothing waits for, or made on other arguments (the validator)."""
        waiting = self.holds.get(decision.step_id) or self.pending.get(decision.step_id)
        if waiting is None or decision.step_id in self._decisions:
            raise ValueError(f"step {decision.step_id!r} is not waiting for approval")
        if decision.args_hash is not None and decision.args_hash != waiting.args_hash:
            raise ValueError(
                f"step {decision.step_id!r} waits for approval of other arguments"
                f" (args_hash {waiting.args_hash})"
            )

    def offer(self, decision: ApprovalDecision) -> None:
        """Hand a decision to the waiting step."""
        self._decisions[decision.step_id] = decision

    def recorded(self, step_id: str) -> bool:
        """Whether the decision on ``step_id`` took effect (and its event is recorded)."""
        return step_id in self._decided

    async def wait(
        self,
        *,
        step_id: str,
        tool: str,
        args: dict[str, Any],
        risk: str,
        resume: bool,
        timeout_s: float,
        stopping: Callable[[], bool],
        recorder: EventRecorder,
    ) -> ApprovalDecision | None:
        """Ask for a decision on running ``tool`` with ``args`` as ``step_id`` (unless
        ``resume``: it was asked before a continue-as-new) and wait for it; a timeout is a
        rejection by ``system``. None when the goal stops first (the step never runs)."""
        table = self.holds if is_reserved_step_id(step_id) else self.pending
        digest = args_hash(args)
        if resume:
            pending = table[step_id]
        else:
            now = workflow.now()
            deadline = now + timedelta(seconds=timeout_s)
            pending = PendingApproval(
                step_id=step_id,
                tool=tool,
                args=args,
                risk=risk,
                requested_at=now,
                deadline=deadline,
                args_hash=digest,
            )
            table[step_id] = pending
            requested = ApprovalRequested(
                step_id=step_id, tool_name=tool, args=args, risk_lane=risk, expires_at=deadline
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
        del table[step_id]
        bound = {"step_id": step_id, "tool_name": tool, "args_hash": digest}
        if decision.approved:
            granted = ApprovalGranted(
                **bound, decided_by=decision.decided_by, reason=decision.reason
            )
            await recorder.record(step_event(granted, step_id=step_id))
            if table is self.pending:
                self.grants.add(ApprovalGrant(step_id=step_id, tool=tool, args_hash=digest))
        else:
            rejected = ApprovalRejected(
                **bound,
                decided_by=decision.decided_by,
                reason=decision.reason,
                timed_out=timed_out,
            )
            await recorder.record(step_event(rejected, step_id=step_id))
        self._decided.add(step_id)
        return decision
