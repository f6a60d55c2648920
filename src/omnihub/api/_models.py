"""Request and response bodies of the HTTP API (Pydantic v2; they form the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from omnihub.plans import Plan


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


class GoalAccepted(_Body):
    """A goal the runtime has taken on (``202 Accepted``)."""

    goal_id: str
    status: str


class GoalPage(_Body):
    """One page of goals, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None


class ApprovalDecision(_Body):
    """A person's decision on a step waiting for approval."""

    decision: Literal["approve", "reject"]
    reason: str | None = Field(None, max_length=2000)


class ControlRequest(_Body):
    """Optional reason given with cancel, pause or resume."""

    reason: str | None = Field(None, max_length=2000)


class ErrorDetail(_Body):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for a person.")
    details: list[dict[str, Any]] | None = Field(
        None, description="Per-field problems for validation errors."
    )


class ErrorBody(_Body):
    """Every error response has this shape; it never contains a stack trace."""

    error: ErrorDetail


class HealthBody(_Body):
    status: str


class ReadinessBody(_Body):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]
