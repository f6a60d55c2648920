"""The canonical data model's event payloads: what happens to a goal, from receipt to result.

Each model is frozen and strict and registered under ``(event_type, schema_version)``.
``ToolExecuted`` shows schema evolution: version 1 measured ``duration_s``; version 2 measures
``duration_ms`` and adds ``attempt`` and ``step_id``; stored version-1 events are upcast on read.
PlanGenerated version 2 adds the ``client`` source; version 3 records its steps in the one plan
step shape (:class:`omnihub.plans.PlanStep`, ``{id, tool, args, depends_on}``) and the undo tools
beside them. ApprovalGranted and ApprovalRejected version 2 record what an approval binds (tool,
args hash).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from omnihub.events._registry import EventPayload, register_event, register_upcaster
from omnihub.plans import PlanStep

__all__ = [
    "PLAN_CACHE_STREAM",
    "AdminAuditExported",
    "AdminCacheInvalidated",
    "AdminKeyCreated",
    "AdminKeyRevoked",
    "AdminKeysListed",
    "ApprovalGranted",
    "ApprovalGrantedV1",
    "ApprovalRejected",
    "ApprovalRejectedV1",
    "ApprovalRequested",
    "BudgetExceeded",
    "CacheDetails",
    "CachedPlanEvicted",
    "CompensationExecuted",
    "CompensationFailed",
    "GoalCancelled",
    "GoalCompleted",
    "GoalFailed",
    "GoalPaused",
    "GoalReceived",
    "GoalResumed",
    "PlanGenerated",
    "PlanGeneratedV1",
    "PlanGeneratedV2",
    "PlanReportedWrong",
    "PlanStepV1",
    "PolicyEvaluated",
    "PolicySetApplied",
    "StepCompleted",
    "StepFailed",
    "StepStarted",
    "TokenUsage",
    "ToolExecuted",
    "ToolExecutedV1",
]

JsonObject = dict[str, JsonValue]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class PlanStepV1(_Part):
    """A plan step as PlanGenerated versions 1 and 2 recorded it (superseded by
    :class:`omnihub.plans.PlanStep`, the one shape requests, events and goal state share).

    Extra fields are kept (planners may record more, e.g. a risk lane).
    """

    model_config = ConfigDict(extra="allow")

    step_id: str = Field(min_length=1)
    tool_name: str = Field(min_length=1)
    args: JsonObject = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    description: str | None = None
    compensation: str | None = Field(None, description="Tool that undoes this step, if any.")


class TokenUsage(_Part):
    """LLM token counts of one planning call."""

    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class CacheDetails(_Part):
    """How a plan-cache hit was decided (extra fields allowed for index details)."""

    model_config = ConfigDict(extra="allow")

    entry_id: str | None = None
    similarity: float | None = None
    template: str | None = None


@register_event("GoalReceived")
class GoalReceived(EventPayload):
    """A user's goal arrived; the first event of every goal stream."""

    goal: str = Field(min_length=1)
    user_id: str
    context: JsonObject = Field(default_factory=dict)
    trace_id: str | None = Field(
        None, description="OpenTelemetry trace of the goal (32 hex digits), when traced."
    )
    # guard3: the API key that submitted the goal and its role (the policy's principal).
    submitter_id: str | None = None
    submitter_role: str = "operator"


@register_event("PlanGenerated", version=1)
class PlanGeneratedV1(EventPayload):
    """Version 1 of PlanGenerated (superseded): a client's explicit plan was recorded as
    ``playbook``."""

    plan_id: str = Field(min_length=1)
    steps: list[PlanStepV1]
    reasoning: str = ""
    source: Literal["llm", "cache", "playbook"]
    model: str | None = None
    token_usage: TokenUsage | None = None
    cache: CacheDetails | None = None
    cost: float | None = Field(None, ge=0, description="LLM cost of planning, in USD.")
    latency_ms: float | None = Field(None, ge=0, description="How long planning took.")


class _PlanMade(EventPayload):
    """How a plan was made: the fields PlanGenerated versions 2 and 3 share (not registered)."""

    plan_id: str = Field(min_length=1)
    reasoning: str = ""
    source: Literal["llm", "cache", "playbook", "client"]
    model: str | None = None
    token_usage: TokenUsage | None = None
    cache: CacheDetails | None = None
    cost: float | None = Field(None, ge=0, description="LLM cost of planning, in USD.")
    latency_ms: float | None = Field(None, ge=0, description="How long planning took.")
    # guard3: outside-world text the planner read (tool outputs shown on replanning); when
    # any, the plan is tainted and the guard traces its values and tool choices as outside.
    outside_texts: list[str] = Field(default_factory=list)


@register_event("PlanGenerated", version=2)
class PlanGeneratedV2(_PlanMade):
    """Version 2 of PlanGenerated (superseded): steps as ``{step_id, tool_name, ...}``."""

    steps: list[PlanStepV1]


@register_event("PlanGenerated", version=3)
class PlanGenerated(_PlanMade):
    """A plan was produced: by an LLM, from the plan cache, from a playbook, or given by the
    client with the goal (``client``)."""

    steps: list[PlanStep]
    compensations: dict[str, str] = Field(
        default_factory=dict,
        description="Step id -> the tool that undoes that step, for the steps that have one.",
    )


@register_upcaster("PlanGenerated", from_version=1)
def _plan_generated_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Version 2 only adds the "client" source; what version 1 called a plan stays as it was.
    return data


@register_upcaster("PlanGenerated", from_version=2)
def _plan_generated_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    # Version 3 names a step's fields as plans.PlanStep does ({id, tool, args, depends_on})
    # and moves each step's undo tool into one map beside the steps. What else a step carried
    # (a description, a planner's extra detail) has no place in the one shape: it stays in the
    # stored bytes (the hash chain covers those), not in the upcast payload.
    steps: list[dict[str, Any]] = []
    compensations: dict[str, str] = {}
    for old in data.get("steps", []):
        step_id = old.get("step_id")
        steps.append(
            {
                "id": step_id,
                "tool": old.get("tool_name"),
                "args": old.get("args", {}),
                "depends_on": old.get("depends_on", []),
            }
        )
        if old.get("compensation") is not None:
            compensations[str(step_id)] = old["compensation"]
    return {**data, "steps": steps, "compensations": compensations}


@register_event("BudgetExceeded")
class BudgetExceeded(EventPayload):
    """A goal was rejected or held for approval because its tenant is over today's budget."""

    tenant: str = Field(min_length=1)
    action: Literal["reject", "hold"]
    reason: str
    period: Literal["day"] = "day"
    period_start: str = Field(description="ISO 8601 start (UTC) of the budget period.")
    spent_tokens: int = Field(ge=0)
    spent_cost: float = Field(ge=0)
    limit_tokens: int | None = None
    limit_cost: float | None = None
    goal_id: str | None = None


@register_event("StepStarted")
class StepStarted(EventPayload):
    step_id: str = Field(min_length=1)
    tool_name: str = Field(min_length=1)


@register_event("ToolExecuted", version=1)
class ToolExecutedV1(EventPayload):
    """Version 1 of ToolExecuted (superseded): kept to read and test old streams."""

    tool_name: str = Field(min_length=1)
    input: JsonObject = Field(default_factory=dict)
    output: JsonValue = None
    duration_s: float = Field(ge=0)


@register_event("ToolExecuted", version=2)
class ToolExecuted(EventPayload):
    """A tool call returned (one attempt)."""

    tool_name: str = Field(min_length=1)
    input: JsonObject = Field(default_factory=dict)
    output: JsonValue = None
    duration_ms: float = Field(ge=0)
    attempt: int = Field(1, ge=1)
    step_id: str | None = None


@register_upcaster("ToolExecuted", from_version=1)
def _tool_executed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    upgraded = {k: v for k, v in data.items() if k != "duration_s"}
    upgraded["duration_ms"] = round(float(data.get("duration_s", 0.0)) * 1000.0, 3)
    upgraded.setdefault("attempt", 1)
    upgraded.setdefault("step_id", None)
    return upgraded


@register_event("StepCompleted")
class StepCompleted(EventPayload):
    step_id: str = Field(min_length=1)
    result: JsonValue = None


@register_event("StepFailed")
class StepFailed(EventPayload):
    step_id: str = Field(min_length=1)
    error: str
    retryable: bool = False


@register_event("GoalCompleted")
class GoalCompleted(EventPayload):
    result: JsonValue = None
    metrics: JsonObject = Field(default_factory=dict)


@register_event("GoalFailed")
class GoalFailed(EventPayload):
    error: str
    partial_results: JsonObject = Field(default_factory=dict)
    compensations: list[str] = Field(default_factory=list)


@register_event("CompensationExecuted")
class CompensationExecuted(EventPayload):
    """A step's effect was undone by its compensating tool."""

    step_id: str = Field(min_length=1)
    tool_name: str = Field(min_length=1)
    input: JsonObject = Field(default_factory=dict)
    output: JsonValue = None


@register_event("CompensationFailed")
class CompensationFailed(EventPayload):
    step_id: str = Field(min_length=1)
    tool_name: str = Field(min_length=1)
    error: str


@register_event("ApprovalRequested")
class ApprovalRequested(EventPayload):
    """A risky step waits for a human decision."""

    step_id: str = Field(min_length=1)
    tool_name: str = Field(min_length=1)
    args: JsonObject = Field(default_factory=dict)
    risk_lane: str
    expires_at: AwareDatetime | None = None


@register_event("ApprovalGranted", version=1)
class ApprovalGrantedV1(EventPayload):
    """Version 1 of ApprovalGranted (superseded): the decision named only the step."""

    step_id: str = Field(min_length=1)
    decided_by: str
    reason: str | None = None


@register_event("ApprovalGranted", version=2)
class ApprovalGranted(EventPayload):
    """A person approved running ``tool_name`` as ``step_id`` with the arguments whose
    canonical-JSON SHA-256 is ``args_hash``; the approval covers nothing else."""

    step_id: str = Field(min_length=1)
    tool_name: str | None = Field(None, description="None only in upcast version-1 events.")
    args_hash: str | None = Field(None, description="None only in upcast version-1 events.")
    decided_by: str
    reason: str | None = None


@register_event("ApprovalRejected", version=1)
class ApprovalRejectedV1(EventPayload):
    """Version 1 of ApprovalRejected (superseded): the decision named only the step."""

    step_id: str = Field(min_length=1)
    decided_by: str
    reason: str | None = None
    timed_out: bool = False


@register_event("ApprovalRejected", version=2)
class ApprovalRejected(EventPayload):
    """A person (or the approval deadline) refused ``tool_name`` with the arguments whose
    hash is ``args_hash`` as ``step_id``."""

    step_id: str = Field(min_length=1)
    tool_name: str | None = Field(None, description="None only in upcast version-1 events.")
    args_hash: str | None = Field(None, description="None only in upcast version-1 events.")
    decided_by: str
    reason: str | None = None
    timed_out: bool = False


@register_upcaster("ApprovalGranted", from_version=1)
@register_upcaster("ApprovalRejected", from_version=1)
def _approval_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # A version-1 decision did not record what it bound: say so rather than guess.
    return {**data, "tool_name": None, "args_hash": None}


@register_event("GoalCancelled")
class GoalCancelled(EventPayload):
    reason: str
    cancelled_by: str
    partial_results: JsonObject = Field(default_factory=dict)
    compensations: list[str] = Field(default_factory=list)


@register_event("GoalPaused")
class GoalPaused(EventPayload):
    by: str
    reason: str | None = None


@register_event("GoalResumed")
class GoalResumed(EventPayload):
    by: str
    reason: str | None = None


@register_event("PolicySetApplied")
class PolicySetApplied(EventPayload):
    """A tenant's Cedar policy set was validated and became the current version."""

    version: int = Field(ge=1)
    digest: str = Field(min_length=64, max_length=64, description="SHA-256 of the text.")
    policies: str = Field(min_length=1, description="The Cedar policy text.")
    policy_ids: list[str] = Field(default_factory=list)
    applied_by: str = Field(min_length=1)
    reason: str | None = None


@register_event("PolicyEvaluated")
class PolicyEvaluated(EventPayload):
    """The guard decided a request: at plan time or just before a step ran."""

    phase: Literal["plan", "step", "goal", "admin"]
    action: str = Field(min_length=1)
    resource: str = Field(min_length=1)
    outcome: Literal["permit", "forbid", "approval"]
    policy_ids: list[str] = Field(default_factory=list)
    version: int = Field(ge=0, description="The policy set's version (0: the defaults).")
    reason: str
    step_id: str | None = None
    untrusted_sinks: list[str] = Field(default_factory=list)


# Administration: what an admin key did through the API, each in the system stream of the
# admin's tenant (tenant ``_system``, which no API key can have), hash-chained like goals.


@register_event("AdminKeyCreated")
class AdminKeyCreated(EventPayload):
    """An admin created an API key (the key itself is never recorded)."""

    tenant_id: str = Field(min_length=1)
    key_id: str = Field(min_length=1)
    role: str = Field(min_length=1)
    require_signature: bool
    by: str = Field(min_length=1)


@register_event("AdminKeysListed")
class AdminKeysListed(EventPayload):
    """An admin listed the tenant's API keys."""

    tenant_id: str = Field(min_length=1)
    count: int = Field(ge=0)
    by: str = Field(min_length=1)


@register_event("AdminKeyRevoked")
class AdminKeyRevoked(EventPayload):
    """An admin revoked an API key; its console sessions ended with it."""

    tenant_id: str = Field(min_length=1)
    key_id: str = Field(min_length=1)
    by: str = Field(min_length=1)


@register_event("AdminCacheInvalidated")
class AdminCacheInvalidated(EventPayload):
    """An admin dropped the tenant's cached plans (all, or those using ``tool``)."""

    tenant_id: str = Field(min_length=1)
    tool: str | None = None
    removed: int = Field(ge=0)
    by: str = Field(min_length=1)


@register_event("AdminAuditExported")
class AdminAuditExported(EventPayload):
    """An admin exported the tenant's events with their hash chain."""

    tenant_id: str = Field(min_length=1)
    by: str = Field(min_length=1)


#: The tenant's stream of plan-cache events (wrong-plan reports, evictions after failures):
#: in the tenant's own events, so every process folds the same figures from the store.
PLAN_CACHE_STREAM = "plan-cache"


@register_event("PlanReportedWrong")
class PlanReportedWrong(EventPayload):
    """A user or operator reported that a plan-cache entry served a wrong plan: the entry was
    evicted and the report counts as a false hit."""

    entry_id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    goal_id: str | None = Field(None, description="The goal the wrong plan was served to.")
    by: str = Field(min_length=1)


@register_event("CachedPlanEvicted")
class CachedPlanEvicted(EventPayload):
    """A plan-cache entry was evicted because goals it planned failed because of the plan
    ``failures`` times (``reason`` ``plan_failures``; ``cause`` the last failure's)."""

    entry_id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    cause: str | None = None
    failures: int = Field(ge=0)
    goal_id: str | None = Field(None, description="The goal whose failure evicted it.")
