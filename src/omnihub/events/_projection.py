"""GoalState: the state of one goal, folded from its events.

The fold reads only what the events carry (payloads, stream versions, ``occurred_at``), never
store-assigned positions or ``recorded_at``, so the same events give byte-identical state JSON
on every backend (:meth:`GoalState.to_json`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from omnihub.events import _payloads as p
from omnihub.events._canonical import canonical_json
from omnihub.events._envelope import EventEnvelope
from omnihub.plans import PlanStep

__all__ = [
    "SUMMARY_PAYLOADS",
    "CompensationRecord",
    "GoalState",
    "GoalStatus",
    "StepState",
    "StepStatus",
    "project_goal",
]

GoalStatus = Literal[
    "new",
    "received",
    "planned",
    "running",
    "awaiting_approval",
    "paused",
    "completed",
    "failed",
    "cancelled",
]
StepStatus = Literal[
    "pending",
    "running",
    "awaiting_approval",
    "approved",
    "rejected",
    "completed",
    "failed",
    "compensated",
    "compensation_failed",
]


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepState(_State):
    """What has happened to one step so far (its *state*, not the plan step: that is
    :class:`omnihub.plans.PlanStep`, in :attr:`GoalState.plan`). ``step_id`` and ``tool_name``
    are named as the step events name them."""

    step_id: str
    tool_name: str | None = None
    status: StepStatus = "pending"
    attempts: int = 0
    tool_calls: int = 0
    duration_ms: float = 0.0
    result: JsonValue = None
    error: str | None = None
    retryable: bool | None = None
    approval_decided_by: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class CompensationRecord(_State):
    step_id: str
    tool_name: str
    status: Literal["executed", "failed"]
    output: JsonValue = None
    error: str | None = None
    at: datetime


class GoalState(_State):
    """Everything known about one goal after its events so far."""

    goal_id: str
    tenant_id: str | None = None
    status: GoalStatus = "new"
    goal: str | None = None
    user_id: str | None = None
    context: dict[str, JsonValue] = Field(default_factory=dict)
    plan_id: str | None = None
    plan_source: str | None = None
    plan: list[PlanStep] = Field(default_factory=list)
    steps: list[StepState] = Field(default_factory=list)
    compensations: list[CompensationRecord] = Field(default_factory=list)
    result: JsonValue = None
    metrics: dict[str, JsonValue] = Field(default_factory=dict)
    partial_results: dict[str, JsonValue] = Field(default_factory=dict)
    error: str | None = None
    paused: bool = False
    version: int = 0
    event_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None

    def step(self, step_id: str) -> StepState | None:
        return next((s for s in self.steps if s.step_id == step_id), None)

    def to_json(self) -> str:
        """Canonical JSON of the state: byte-identical for the same events on any backend."""
        return canonical_json(self.model_dump(mode="json"))


class _Fold:
    """Mutable accumulator; :func:`project_goal` freezes it into a GoalState."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.compensations: list[CompensationRecord] = []

    def step(self, step_id: str, tool_name: str | None = None) -> dict[str, Any]:
        step = self.steps.setdefault(step_id, {"step_id": step_id})
        if tool_name is not None:
            step["tool_name"] = tool_name
        return step

    def apply(self, event: EventEnvelope) -> None:
        s = self.state
        at = event.occurred_at
        payload = event.payload
        count_event(s, event.stream_id, event.tenant_id, event.stream_version, at)
        fold_summary(s, payload, at)
        # The details below the summary: steps, plan, context, results.
        if isinstance(payload, p.GoalReceived):
            s["context"] = payload.context
        elif isinstance(payload, p.PlanGenerated):
            s.update(plan_id=payload.plan_id, plan=payload.steps)
            for planned in payload.steps:
                self.step(planned.id, planned.tool)
        elif isinstance(payload, p.StepStarted):
            step = self.step(payload.step_id, payload.tool_name)
            step.update(status="running", started_at=at, error=None)
            step["attempts"] = int(step.get("attempts", 0)) + 1
        elif isinstance(payload, p.ToolExecuted):
            if payload.step_id is not None:
                step = self.step(payload.step_id, payload.tool_name)
                step["tool_calls"] = int(step.get("tool_calls", 0)) + 1
                step["duration_ms"] = float(step.get("duration_ms", 0.0)) + payload.duration_ms
        elif isinstance(payload, p.StepCompleted):
            self.step(payload.step_id).update(
                status="completed", result=payload.result, finished_at=at
            )
        elif isinstance(payload, p.StepFailed):
            self.step(payload.step_id).update(
                status="failed", error=payload.error, retryable=payload.retryable, finished_at=at
            )
        elif isinstance(payload, p.ApprovalRequested):
            self.step(payload.step_id, payload.tool_name).update(status="awaiting_approval")
        elif isinstance(payload, p.ApprovalGranted):
            self.step(payload.step_id).update(
                status="approved", approval_decided_by=payload.decided_by
            )
        elif isinstance(payload, p.ApprovalRejected):
            self.step(payload.step_id).update(
                status="rejected", approval_decided_by=payload.decided_by, finished_at=at
            )
        elif isinstance(payload, (p.CompensationExecuted, p.CompensationFailed)):
            executed = isinstance(payload, p.CompensationExecuted)
            self.step(payload.step_id).update(
                status="compensated" if executed else "compensation_failed"
            )
            self.compensations.append(
                CompensationRecord(
                    step_id=payload.step_id,
                    tool_name=payload.tool_name,
                    status="executed" if executed else "failed",
                    output=payload.output if isinstance(payload, p.CompensationExecuted) else None,
                    error=payload.error if isinstance(payload, p.CompensationFailed) else None,
                    at=at,
                )
            )
        elif isinstance(payload, p.GoalCompleted):
            s["result"] = payload.result
            s["metrics"] = payload.metrics
        elif isinstance(payload, (p.GoalFailed, p.GoalCancelled)):
            s["partial_results"] = payload.partial_results
        # Event types registered by later components and unknown here only count as activity.


def count_event(s: dict[str, Any], goal_id: str, tenant_id: str, version: int, at: Any) -> None:
    """What every event of a goal changes: its version, count and times."""
    s.setdefault("goal_id", goal_id)
    s.setdefault("tenant_id", tenant_id)
    s.setdefault("created_at", at)
    s["version"] = version
    s["event_count"] = int(s.get("event_count", 0)) + 1
    s["updated_at"] = at


SUMMARY_PAYLOADS: tuple[type[object], ...] = (
    p.GoalReceived,
    p.PlanGenerated,
    p.StepStarted,
    p.ApprovalGranted,
    p.ApprovalRequested,
    p.GoalPaused,
    p.GoalResumed,
    p.GoalCompleted,
    p.GoalFailed,
    p.GoalCancelled,
)
"""The payload types :func:`fold_summary` reacts to (keep the two in step)."""


def fold_summary(s: dict[str, Any], payload: object, at: Any) -> None:
    """The goal-level fields ``payload`` changes (status, goal, plan source, error, pause).

    Shared by the full fold and the goal index, which runs it inside every append (``at`` is
    then the stored timestamp text), so both always agree on a goal's status.
    """
    if isinstance(payload, p.GoalReceived):
        s.update(status="received", goal=payload.goal, user_id=payload.user_id)
    elif isinstance(payload, p.PlanGenerated):
        s.update(status="planned", plan_source=payload.source)
    elif isinstance(payload, (p.StepStarted, p.ApprovalGranted)):
        s["status"] = "running"
    elif isinstance(payload, p.ApprovalRequested):
        s["status"] = "awaiting_approval"
    elif isinstance(payload, p.GoalPaused):
        s.update(status="paused", paused=True)
    elif isinstance(payload, p.GoalResumed):
        s.update(status="running", paused=False)
    elif isinstance(payload, p.GoalCompleted):
        s.update(status="completed", finished_at=at)
    elif isinstance(payload, p.GoalFailed):
        s.update(status="failed", error=payload.error, finished_at=at)
    elif isinstance(payload, p.GoalCancelled):
        s.update(status="cancelled", error=payload.reason, finished_at=at)


def project_goal(events: Iterable[EventEnvelope], goal_id: str | None = None) -> GoalState:
    """Fold a goal's events, in stream order, into its :class:`GoalState`.

    Deterministic: the result depends only on the events' contents. ``goal_id`` names the
    state of a goal with no events yet.
    """
    fold = _Fold()
    for event in events:
        fold.apply(event)
    state = fold.state
    state.setdefault("goal_id", goal_id or "")
    steps = [StepState(**step) for step in fold.steps.values()]
    return GoalState(**state, steps=steps, compensations=fold.compensations)
