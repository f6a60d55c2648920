"""GoalState: the state of one goal, folded from its events.

The fold reads only what the events carry (payloads, stream versions, ``occurred_at``), never
store-assigned positions or ``recorded_at``, so the same events give byte-identical state JSON
on every backend (:meth:`GoalState.to_json`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from omnihub.events import _payloads as p
from omnihub.events._canonical import canonical_json
from omnihub.events._envelope import EventEnvelope
from omnihub.plans import PlanStep

__all__ = [
    "SUMMARY_PAYLOADS",
    "CompensationRecord",
    "GoalFold",
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


class GoalFold:
    """Mutable accumulator of one goal's events; :meth:`goal_state` freezes it into a GoalState.

    :func:`project_goal` feeds it envelopes; :meth:`EventStore.goal_state` feeds it the
    payloads of stored rows without building envelopes. Both go through :meth:`apply`, so
    they cannot disagree.
    """

    __slots__ = ("compensations", "count", "first", "state", "steps", "updated_at", "version")

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.compensations: list[CompensationRecord] = []
        # What every event changes, kept apart from ``state`` until goal_state: three stores
        # per event instead of a count_event call's six dict operations (measured).
        self.count = 0
        self.version = 0
        self.first: tuple[str, str, datetime] | None = None  # goal, tenant, created_at
        self.updated_at: datetime | None = None

    def step(self, step_id: str, tool_name: str | None = None) -> dict[str, Any]:
        step = self.steps.get(step_id)
        if step is None:
            step = self.steps[step_id] = {"step_id": step_id}
        if tool_name is not None:
            step["tool_name"] = tool_name
        return step

    def apply(
        self, payload: object, at: datetime, goal_id: str, tenant_id: str, version: int
    ) -> None:
        """Fold one event: its payload, ``occurred_at``, stream, tenant and stream version."""
        if self.first is None:
            self.first = (goal_id, tenant_id, at)
        self.count += 1
        self.version = version
        self.updated_at = at
        kind = type(payload)
        folds = _FOLDS.get(kind)
        if folds is None:
            folds = _FOLDS[kind] = (_summary_of(kind), _detail_of(kind))
        summary, detail = folds
        if summary is not None:
            summary(self.state, payload, at)
        # The details below the summary: steps, plan, context, results.
        if detail is not None:
            detail(self, payload, at)

    def goal_state(self, goal_id: str | None = None) -> GoalState:
        """The state folded so far (``goal_id`` names a goal without events).

        Built without validating again: every value is a validated payload's, a datetime the
        caller parsed, or a literal of this fold, and GoalState's validation cost as much as
        the fold itself (tests pin the result equal to the validated model, fields set too).
        """
        given = self.state
        if self.first is None:
            given["goal_id"] = goal_id or ""
        else:
            given["goal_id"], given["tenant_id"], given["created_at"] = self.first
            given["version"] = self.version
            given["event_count"] = self.count
            given["updated_at"] = self.updated_at
        given["steps"] = [_trusted(StepState, step) for step in self.steps.values()]
        given["compensations"] = self.compensations
        return _trusted(GoalState, given)

    # One method per payload type with details; _detail_of picks it as isinstance would.

    def _goal_received(self, payload: p.GoalReceived, at: datetime) -> None:
        self.state["context"] = payload.context

    def _plan_generated(self, payload: p.PlanGenerated, at: datetime) -> None:
        self.state.update(plan_id=payload.plan_id, plan=payload.steps)
        for planned in payload.steps:
            self.step(planned.id, planned.tool)

    def _step_started(self, payload: p.StepStarted, at: datetime) -> None:
        step = self.step(payload.step_id, payload.tool_name)
        step.update(status="running", started_at=at, error=None)
        step["attempts"] = step.get("attempts", 0) + 1

    def _tool_executed(self, payload: p.ToolExecuted, at: datetime) -> None:
        if payload.step_id is not None:
            step = self.step(payload.step_id, payload.tool_name)
            step["tool_calls"] = step.get("tool_calls", 0) + 1
            step["duration_ms"] = step.get("duration_ms", 0.0) + payload.duration_ms

    def _step_completed(self, payload: p.StepCompleted, at: datetime) -> None:
        self.step(payload.step_id).update(status="completed", result=payload.result, finished_at=at)

    def _step_failed(self, payload: p.StepFailed, at: datetime) -> None:
        self.step(payload.step_id).update(
            status="failed", error=payload.error, retryable=payload.retryable, finished_at=at
        )

    def _approval_requested(self, payload: p.ApprovalRequested, at: datetime) -> None:
        self.step(payload.step_id, payload.tool_name).update(status="awaiting_approval")

    def _approval_granted(self, payload: p.ApprovalGranted, at: datetime) -> None:
        self.step(payload.step_id).update(status="approved", approval_decided_by=payload.decided_by)

    def _approval_rejected(self, payload: p.ApprovalRejected, at: datetime) -> None:
        self.step(payload.step_id).update(
            status="rejected", approval_decided_by=payload.decided_by, finished_at=at
        )

    def _compensation(
        self, payload: p.CompensationExecuted | p.CompensationFailed, at: datetime
    ) -> None:
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

    def _goal_completed(self, payload: p.GoalCompleted, at: datetime) -> None:
        self.state["result"] = payload.result
        self.state["metrics"] = payload.metrics

    def _goal_ended(self, payload: p.GoalFailed | p.GoalCancelled, at: datetime) -> None:
        self.state["partial_results"] = payload.partial_results


_M = TypeVar("_M", bound=BaseModel)
_set = object.__setattr__
# Model class -> (its fields' defaults, in field order; the fields built by a default factory).
_DEFAULTS: dict[type[BaseModel], tuple[dict[str, Any], tuple[tuple[str, Any], ...]]] = {}


def _trusted(cls: type[_M], given: dict[str, Any]) -> _M:
    """An instance of ``cls`` with the fields in ``given`` (all of them valid: the fold's
    values) and the rest at their defaults, exactly as ``cls(**given)`` builds it (its fields
    set too), without validating. What model_construct does, minus its per-field alias checks
    (this model family has no aliases)."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        fields = cls.model_fields
        defaults = _DEFAULTS[cls] = (
            {name: field.default for name, field in fields.items()},
            tuple(
                (name, field.default_factory)
                for name, field in fields.items()
                if field.default_factory is not None
            ),
        )
    values = defaults[0].copy()
    values.update(given)
    for name, factory in defaults[1]:
        if name not in given:
            values[name] = factory()
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(given))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


_Detail = Callable[[GoalFold, Any, datetime], None]
_Summary = Callable[[dict[str, Any], Any, Any], None]
# In the order the fold checks them: the first class a payload is an instance of wins.
_DETAIL_ORDER: tuple[tuple[tuple[type[object], ...], _Detail], ...] = (
    ((p.GoalReceived,), GoalFold._goal_received),
    ((p.PlanGenerated,), GoalFold._plan_generated),
    ((p.StepStarted,), GoalFold._step_started),
    ((p.ToolExecuted,), GoalFold._tool_executed),
    ((p.StepCompleted,), GoalFold._step_completed),
    ((p.StepFailed,), GoalFold._step_failed),
    ((p.ApprovalRequested,), GoalFold._approval_requested),
    ((p.ApprovalGranted,), GoalFold._approval_granted),
    ((p.ApprovalRejected,), GoalFold._approval_rejected),
    ((p.CompensationExecuted, p.CompensationFailed), GoalFold._compensation),
    ((p.GoalCompleted,), GoalFold._goal_completed),
    ((p.GoalFailed, p.GoalCancelled), GoalFold._goal_ended),
)
# Payload class -> its (summary, detail) functions, found once per class: isinstance on
# pydantic models runs Python code each time, and the chains made ten per event (measured in
# a profile). None: the class changes nothing there (event types registered by later
# components and unknown here only count).
_FOLDS: dict[type[object], tuple[_Summary | None, _Detail | None]] = {}
_SUMMARIES: dict[type[object], _Summary | None] = {}


def _detail_of(kind: type[object]) -> _Detail | None:
    for classes, method in _DETAIL_ORDER:
        if issubclass(kind, classes):
            return method
    return None


def summarizes(kind: type[object]) -> bool:
    """Whether payloads of ``kind`` change a summary field (see :func:`fold_summary`)."""
    return _summary_of(kind) is not None


# What each payload type changes of the goal-level fields, as fold_summary applies it.


def _received(s: dict[str, Any], payload: p.GoalReceived, at: Any) -> None:
    s.update(status="received", goal=payload.goal, user_id=payload.user_id)


def _planned(s: dict[str, Any], payload: p.PlanGenerated, at: Any) -> None:
    s.update(status="planned", plan_source=payload.source)


def _running(s: dict[str, Any], payload: object, at: Any) -> None:
    s["status"] = "running"


def _awaiting(s: dict[str, Any], payload: object, at: Any) -> None:
    s["status"] = "awaiting_approval"


def _paused(s: dict[str, Any], payload: object, at: Any) -> None:
    s.update(status="paused", paused=True)


def _resumed(s: dict[str, Any], payload: object, at: Any) -> None:
    s.update(status="running", paused=False)


def _completed(s: dict[str, Any], payload: object, at: Any) -> None:
    s.update(status="completed", finished_at=at)


def _failed(s: dict[str, Any], payload: p.GoalFailed, at: Any) -> None:
    s.update(status="failed", error=payload.error, finished_at=at)


def _cancelled(s: dict[str, Any], payload: p.GoalCancelled, at: Any) -> None:
    s.update(status="cancelled", error=payload.reason, finished_at=at)


# In the order fold_summary checks them: the first class a payload is an instance of wins.
_SUMMARY_ORDER: tuple[tuple[type[object], _Summary], ...] = (
    (p.GoalReceived, _received),
    (p.PlanGenerated, _planned),
    (p.StepStarted, _running),
    (p.ApprovalGranted, _running),
    (p.ApprovalRequested, _awaiting),
    (p.GoalPaused, _paused),
    (p.GoalResumed, _resumed),
    (p.GoalCompleted, _completed),
    (p.GoalFailed, _failed),
    (p.GoalCancelled, _cancelled),
)

SUMMARY_PAYLOADS: tuple[type[object], ...] = tuple(kind for kind, _ in _SUMMARY_ORDER)
"""The payload types :func:`fold_summary` reacts to."""


def _summary_of(kind: type[object]) -> _Summary | None:
    try:
        return _SUMMARIES[kind]
    except KeyError:
        pass
    found = next((change for base, change in _SUMMARY_ORDER if issubclass(kind, base)), None)
    _SUMMARIES[kind] = found
    return found


def fold_summary(s: dict[str, Any], payload: object, at: Any) -> None:
    """The goal-level fields ``payload`` changes (status, goal, plan source, error, pause).

    Shared by the full fold and the goal index, which runs it inside every append (``at`` is
    then the stored timestamp text), so both always agree on a goal's status.
    """
    change = _summary_of(type(payload))
    if change is not None:
        change(s, payload, at)


def project_goal(events: Iterable[EventEnvelope], goal_id: str | None = None) -> GoalState:
    """Fold a goal's events, in stream order, into its :class:`GoalState`.

    Deterministic: the result depends only on the events' contents. ``goal_id`` names the
    state of a goal with no events yet.
    """
    fold = GoalFold()
    for event in events:
        fold.apply(
            event.payload, event.occurred_at, event.stream_id, event.tenant_id, event.stream_version
        )
    return fold.goal_state(goal_id)
