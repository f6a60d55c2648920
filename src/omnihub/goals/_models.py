"""The goal models every adapter shares: requests, answers and stream items (Pydantic v2; the
API's OpenAPI schema is built from them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from omnihub.events import GoalStatus, GoalSummary
from omnihub.plans import Plan

ControlAction = Literal["cancel", "pause", "resume"]
# What a goal is doing when an action was accepted: a GoalStatus, or one of the workflow's own
# passing states (it is starting, or compensating after a cancel or a failure).
AcceptedStatus = Literal[GoalStatus, "starting", "compensating"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GoalRequest(_Body):
    """A goal submitted by a user or a program."""

    goal: str = Field(
        min_length=1, max_length=4000, description="What the agent should achieve, in words."
    )
    context: dict[str, Any] = Field(
        default_factory=dict, description="Extra facts for the planner (free-form JSON)."
    )
    user_id: str | None = Field(
        None, min_length=1, max_length=256, description="The end user the goal is for."
    )
    plan: Plan | None = Field(
        None,
        description="An explicit plan to run instead of asking the planner (for programs "
        "that plan themselves); it is validated like any plan before anything runs.",
    )
    deadline_s: float | None = Field(
        None,
        gt=0,
        le=365 * 86400,
        description="Seconds the goal may run before it is cancelled and its steps undone "
        "(default: the server's OMNIHUB_SAGA_GOAL_DEADLINE_S, if any).",
    )

    @field_validator("goal")
    @classmethod
    def _goal_has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the goal is only whitespace; say what the agent should achieve")
        return value


class GoalAccepted(_Body):
    """A goal the runtime has taken on (``202 Accepted``)."""

    goal_id: str
    status: AcceptedStatus


class GoalPage(_Body):
    """One page of goals, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[GoalSummary]
    next_cursor: str | None = None


class GoalDecision(_Body):
    """A person's decision on a step waiting for approval."""

    decision: Literal["approve", "reject"]
    reason: str | None = Field(None, max_length=2000)


class ControlRequest(_Body):
    """Optional reason given with cancel, pause or resume."""

    reason: str | None = Field(None, max_length=2000)


class TemplateHits(_Body):
    template: str
    hits: int


class CacheStats(_Body):
    """The plan-cache figures of a tenant (``GET /v1/cache/stats``)."""

    tenant: str
    plans: int = Field(description="Plans made, from any source.")
    hits: int = Field(description="Plans that came from the plan cache.")
    misses: int
    hit_rate: float = Field(ge=0, le=1)
    by_source: dict[str, int] = Field(description="Plans by source (cache, llm, playbook...).")
    mean_hit_similarity: float | None
    top_templates: list[TemplateHits]
    false_hit_reports: int = Field(
        description="Cache hits reported as wrong plans (PlanReportedWrong events)."
    )
    false_hit_rate: float = Field(ge=0, description="false_hit_reports / hits (0 without hits).")
    evicted_after_failures: int = Field(
        description="Entries evicted because goals they planned kept failing."
    )
    ledger_cache_hits: int
    tokens_saved: int
    cost_saved: float = Field(description="LLM cost the cache hits saved, in USD.")


class WrongPlanReport(_Body):
    """A plan-cache entry that served a wrong plan (its id is in the goal's PlanGenerated
    event, ``cache.entry_id``)."""

    entry_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")
    reason: str = Field("reported by a user", min_length=1, max_length=500)
    goal_id: str | None = Field(None, max_length=200, description="The goal that was served.")


class WrongPlanReported(_Body):
    """A wrong-plan report, recorded: the entry is evicted and the report counted."""

    tenant: str
    entry_id: str
    evicted: bool
    reason: str | None = Field(description="Why the entry was dropped: reported_wrong.")
    cause: str | None
    false_hit_reports: int = Field(
        description="The tenant's wrong-plan reports so far, from its events (the same figure "
        "in every API process)."
    )


class UsageTotals(_Body):
    """A tenant's LLM calls, spend and savings, summed over its usage rows."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cache_hits: int
    saved_tokens: int
    saved_cost: float


class UsageRow(UsageTotals):
    """One day and model of a tenant's LLM usage: calls, spend and savings (the usage
    ledger's :class:`omnihub.planning.UsageRow`, as the API sends it)."""

    day: str
    model: str


class UsageReport(_Body):
    """LLM usage and cost of a tenant (``GET /v1/usage``)."""

    tenant: str
    since: datetime | None
    rows: list[UsageRow]
    totals: UsageTotals


@dataclass(frozen=True)
class StreamEvent:
    """One event of a goal's stream, as sent over SSE (``id`` is the stream version)."""

    version: int
    type: str
    data: dict[str, Any]
