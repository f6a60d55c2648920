"""What a goal's workflow has done so far, and what a continue-as-new carries to the next run.

Deterministic state for :mod:`omnihub.saga.workflows`: outputs, the compensation stack,
counters and the tools' policies, built from a :class:`SagaCarry` and turned back into one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from omnihub.saga._approvals import Approvals
    from omnihub.saga._models import CompensationEntry, SagaCarry, SagaMetrics, StepPolicy


@dataclass
class Progress:
    """A goal's progress across all its runs (``steps_this_run`` counts this run only)."""

    policies: dict[str, StepPolicy] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    stack: list[CompensationEntry] = field(default_factory=list)
    attempts: int = 0
    steps_done: int = 0
    steps_this_run: int = 0
    runs: int = 1
    paused: bool = False
    controls: int = 0
    started_at: datetime | None = None

    @classmethod
    def of(cls, carry: SagaCarry | None) -> Progress:
        """Progress as a previous run left it, or a fresh start."""
        if carry is None:
            return cls()
        return cls(
            policies=dict(carry.policies),
            outputs=dict(carry.outputs),
            stack=list(carry.compensations),
            attempts=carry.attempts,
            steps_done=carry.steps_done,
            runs=carry.runs,
            paused=carry.paused,
            controls=carry.controls,
            started_at=carry.started_at,
        )

    def push(self, entry: CompensationEntry, *, by_position: bool) -> None:
        """Put a completed step's undo on the stack.

        With ``by_position`` the entry goes in the store's order of completion (its
        StepCompleted's position), not the order the workflow saw results in: parallel
        steps' results can arrive out of the order the store recorded them, and LIFO is
        judged against the store. An entry without a position, or with positioning off (a
        history from before it), goes on top as it always did.
        """
        at = len(self.stack)
        if by_position and entry.position is not None:
            while at > 0:
                below = self.stack[at - 1].position
                if below is None or below < entry.position:
                    break
                at -= 1
        self.stack.insert(at, entry)

    def carry(self, approvals: Approvals) -> SagaCarry:
        """What the next run needs, with the approvals still waiting and those granted."""
        assert self.started_at is not None
        return SagaCarry(
            policies=self.policies,
            outputs=self.outputs,
            compensations=self.stack,
            pending_approvals=list(approvals.pending.values()),
            grants=sorted(approvals.grants, key=lambda g: (g.step_id, g.args_hash)),
            attempts=self.attempts,
            steps_done=self.steps_done,
            runs=self.runs + 1,
            started_at=self.started_at,
            paused=self.paused,
            controls=self.controls,
        )

    def metrics(self, now: datetime) -> SagaMetrics:
        assert self.started_at is not None
        return SagaMetrics(
            duration_s=(now - self.started_at).total_seconds(),
            steps=self.steps_done,
            attempts=self.attempts,
            runs=self.runs,
        )
