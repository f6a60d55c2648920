"""The data that crosses the saga's boundaries: workflow input and result, activity inputs
and outputs, approval decisions and the queried state. Pydantic, so Temporal's pydantic data
converter carries them and fields can be added without breaking callers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from omnihub.events import EventPayload
from omnihub.plans import Plan


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class SagaOptions(_Model):
    """Per-goal knobs, filled from the settings by the client."""

    max_parallel_steps: int = Field(4, gt=0)
    approval_timeout_s: float = Field(86400.0, gt=0)
    continue_as_new_after_steps: int = Field(200, gt=0)
    # Tries of preparing the goal, and of recording its end, before the goal fails: an input
    # that breaks them fails the goal with GoalFailed instead of retrying forever.
    prepare_attempts: int = Field(10, gt=0)
    # Seconds from the goal's start until it is cancelled and compensated (None: no deadline).
    deadline_s: float | None = Field(None, gt=0)


class RetryPolicyModel(_Model):
    """A tool's retry policy as the workflow needs it (from :class:`omnihub.tools.RetrySpec`)."""

    initial_interval_s: float
    backoff: float
    max_interval_s: float
    max_attempts: int
    non_retryable_error_types: list[str] = Field(default_factory=list)


class StepPolicy(_Model):
    """How the workflow runs one tool: decided by the worker's registry when the goal starts."""

    tool: str
    side_effect: bool
    requires_approval: bool
    risk: str
    retry: RetryPolicyModel
    start_to_close_timeout_s: float
    heartbeat_timeout_s: float | None
    compensation_tool: str | None = None
    # Run as a local activity (in the workflow task, no round trip through the server): a
    # short tool that needs no approval. Absent in goals started before it (regular).
    local: bool = False


class CompensationEntry(_Model):
    """One undo waiting on the compensation stack: the tool and its resolved arguments.

    ``position`` is the global position of the step's StepCompleted event: the stack is kept
    in the store's order of completion, so LIFO holds against the audit record even when
    parallel steps' results reach the workflow in another order. None in entries made before
    steps reported it (those keep the order the workflow saw).
    """

    step_id: str
    tool: str
    args: dict[str, Any]
    position: int | None = None


class CompensationReport(_Model):
    """What became of one compensation when the stack was unwound."""

    step_id: str
    tool: str
    status: Literal["executed", "failed"]
    output: dict[str, Any] | None = None
    error: str | None = None


class PendingApproval(_Model):
    """A step (or a ``hold:`` pseudo-step) waiting for a human decision until ``deadline``.

    ``args`` are the step's resolved arguments and ``args_hash`` their SHA-256 over canonical
    JSON: the approval is bound to exactly these (step id, tool, arguments).
    """

    step_id: str
    tool: str
    args: dict[str, Any]
    risk: str
    requested_at: datetime
    deadline: datetime
    # None only in approvals carried over from before approvals were bound to arguments.
    args_hash: str | None = None


class ApprovalDecision(_Model):
    """A person's decision on a step that requires approval (sent as a Temporal update).

    ``args_hash``, when given, must be the waiting approval's: a decision made on arguments
    the decider saw is refused if the step would run with others.
    """

    step_id: str
    approved: bool
    decided_by: str = Field(min_length=1)
    reason: str | None = None
    args_hash: str | None = None


class ApprovalGrant(_Model):
    """An approval as it binds: this step, this tool, these resolved arguments (their hash)."""

    step_id: str
    tool: str
    args_hash: str


class ControlRequest(_Model):
    """Who asks to cancel, pause or resume a goal, and why (sent as a Temporal signal)."""

    by: str = "user"
    reason: str | None = None


class SagaCarry(_Model):
    """Everything a run hands to the next one when it continues as new."""

    policies: dict[str, StepPolicy]
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    compensations: list[CompensationEntry] = Field(default_factory=list)
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    # Step ids approved, as carried before approvals were bound to (step, tool, arguments):
    # kept so such a carry still decodes, never read (an id alone proves nothing).
    approved: list[str] = Field(default_factory=list)
    grants: list[ApprovalGrant] = Field(default_factory=list)
    attempts: int = 0
    steps_done: int = 0
    runs: int = 1
    started_at: datetime
    paused: bool = False
    controls: int = 0


class GoalSpec(_Model):
    """What a goal is: the one model of a goal on the saga and planning side.

    The workflow's input and the planner's input *are* goal specs with a few fields of their
    own, so the goal's fields are declared once. ``plan`` is the client's explicit plan, or
    None for the planner to make one.
    """

    goal_id: str
    tenant_id: str
    goal: str
    user_id: str = "user"
    context: dict[str, Any] = Field(default_factory=dict)
    plan: Plan | None = None
    # guard3: who submitted it (the API key's id and role): the policy's principal.
    submitter_id: str | None = None
    submitter_role: str = "operator"

    def spec(self) -> GoalSpec:
        """Just the goal, without what a subclass adds."""
        return GoalSpec.model_validate(self.model_dump(include=set(GoalSpec.model_fields)))


class SagaInput(GoalSpec):
    """The AgentSaga workflow's one input: the goal, per-goal options, and the state a
    continue-as-new carries over."""

    options: SagaOptions = Field(default_factory=SagaOptions)
    carry: SagaCarry | None = None


class SagaMetrics(_Model):
    duration_s: float
    steps: int
    attempts: int
    runs: int


class SagaResult(_Model):
    """How a goal ended: its outputs, the failure and the compensation report if any."""

    goal_id: str
    status: Literal["completed", "failed", "cancelled"]
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    answer: str | None = None
    error: str | None = None
    failed_step: str | None = None
    compensations: list[CompensationReport] = Field(default_factory=list)
    metrics: SagaMetrics


class SagaState(_Model):
    """The live state of a goal's workflow, as its query returns it."""

    goal_id: str
    tenant_id: str
    status: Literal[
        "starting",
        "running",
        "awaiting_approval",
        "paused",
        "compensating",
        "completed",
        "failed",
        "cancelled",
    ]
    plan: Plan | None
    running_steps: list[str]
    completed_steps: list[str]
    failed_step: str | None
    compensation_stack: list[CompensationEntry]
    pending_approvals: list[PendingApproval]
    outputs: dict[str, dict[str, Any]]
    paused: bool
    runs: int


class EventSpec(_Model):
    """One event for an activity to append: type, payload and the parts of its identity."""

    event_type: str
    payload: dict[str, Any]
    key_parts: list[str]
    # The validated model ``payload`` was dumped from, when built in this process (not
    # serialised): an activity appends it without validating the dump again.
    _model: EventPayload | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, payload: EventPayload, key_parts: list[str]) -> EventSpec:
        spec = cls(
            event_type=payload.event_type,
            payload=payload.model_dump(mode="json"),
            key_parts=key_parts,
        )
        spec._model = payload
        return spec

    def model(self) -> EventPayload | None:
        """The payload's validated model, if this spec was built in this process."""
        return self._model


class RecordEventsInput(_Model):
    tenant_id: str
    goal_id: str
    at: datetime
    events: list[EventSpec]


class PlanningInput(GoalSpec):
    """A goal to prepare: what the ``prepare_goal`` activity and a :class:`PlanProvider` get.

    ``at`` is the workflow's time (the time of its events, and the day budgets count in);
    ``budget_approved`` says a person approved planning past the tenant's LLM budget (after a
    "hold").
    """

    at: datetime
    budget_approved: bool = False

    @classmethod
    def for_goal(cls, goal: GoalSpec, *, at: datetime) -> PlanningInput:
        return cls(**goal.spec().model_dump(), at=at)


class ProvidedPlan(_Model):
    """A planner's plan and what the PlanGenerated event records about how it was made."""

    plan: Plan
    # "client": the goal came with an explicit plan (no planner involved).
    source: Literal["llm", "cache", "playbook", "client"]
    model: str | None = None
    token_usage: dict[str, int] | None = None
    cache: dict[str, Any] | None = None
    cost: float | None = None
    latency_ms: float | None = None
    # guard3: outside text the planner read (the plan is then tainted for the guard).
    outside_texts: list[str] = Field(default_factory=list)


class PrepareResult(_Model):
    """The validated plan and each tool's policy, or why the goal cannot start."""

    plan: Plan | None = None
    policies: dict[str, StepPolicy] = Field(default_factory=dict)
    error: str | None = None
    # Why planning is held until a person approves it (over the tenant's LLM budget).
    held: str | None = None


class StepFinish(_Model):
    """What the activity of a goal's last step needs to record the goal's end (GoalCompleted)
    in the same append as the step's completion: the workflow's progress before that step."""

    outputs: dict[str, dict[str, Any]]
    # The plan's last respond_to_user step: its message is the goal's answer.
    answer_step: str | None = None
    started_at: datetime
    steps: int
    attempts: int
    runs: int


class StepInput(_Model):
    tenant_id: str
    goal_id: str
    step_id: str
    tool: str
    args: dict[str, Any]
    at: datetime
    # Set for the goal's last step (nothing else running, the goal not stopping).
    finish: StepFinish | None = None


class StepResult(_Model):
    output: dict[str, Any]
    attempt: int
    compensation: CompensationEntry | None = None
    # The global position of the StepCompleted event the activity appended (None from an
    # activity of an older release).
    position: int | None = None
    # Set when the tenant's policy holds this call for a person (decided with the resolved
    # arguments): the tool did not run; the workflow asks for approval, then runs it again.
    needs_approval: str | None = None
    # Set when the activity recorded the goal's end with the step (``StepInput.finish``): the
    # metrics GoalCompleted carries. None from an activity of an older release.
    ended: SagaMetrics | None = None


class CompensateInput(_Model):
    tenant_id: str
    goal_id: str
    entry: CompensationEntry
    at: datetime
