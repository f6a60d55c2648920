"""The Planner interface: a goal in, a validated plan (with its usage) out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from omnihub.planning._prompt import ToolOutput
from omnihub.planning._types import PlanSource, Usage
from omnihub.plans import Plan

if TYPE_CHECKING:
    from omnihub.saga import GoalSpec


#: Reviews a valid plan before a planner returns it: the repair message for the planner
#: (the policy's objections), or "" when the plan may stand.
PlanReview = Callable[[Plan], Awaitable[str]]


@dataclass(frozen=True)
class PlanRequest:
    """What a planner is asked: the goal, for whom, and when.

    ``now`` resolves relative dates ("tomorrow") and is the time the ledger records the goal's
    usage under (so budgets count it in that day). ``user_id`` and ``role`` are who the goal
    acts for (the policy decides its plan as theirs); ``tool_outputs`` are earlier tools'
    outputs shown on replanning (outside text: a plan made from them is *tainted*).
    ``offered_tools`` limits the catalogue a model planner is shown (None: every tool), and
    ``review`` is asked about each valid plan once; a planner that can converse sends its
    answer back as ONE repair turn (the planning flow sets both from the tenant's policy).
    """

    goal: str
    tenant: str = "default"
    goal_id: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    tool_outputs: Sequence[ToolOutput] = ()
    context: Mapping[str, Any] = field(default_factory=dict)
    user_id: str = "user"
    role: str = "operator"
    offered_tools: frozenset[str] | None = None
    review: PlanReview | None = field(default=None, compare=False, repr=False)

    @property
    def tainted(self) -> bool:
        """The planner reads outside-world text (tool outputs) besides the user's own."""
        return bool(self.tool_outputs)

    @classmethod
    def for_goal(cls, goal: GoalSpec, *, now: datetime) -> PlanRequest:
        """The request to plan a saga's goal (:class:`omnihub.saga.GoalSpec`), as of ``now``
        (the workflow's time, so a retried activity plans and is billed for the same day)."""
        return cls(
            goal=goal.goal,
            tenant=goal.tenant_id,
            goal_id=goal.goal_id,
            now=now,
            context=dict(goal.context),
            user_id=goal.submitter_id or goal.user_id,
            role=goal.submitter_role,
        )


@dataclass(frozen=True)
class LLMCall:
    """One model call as the ledger records it."""

    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_ms: float


UsageSink = Callable[[LLMCall], None]


@dataclass(frozen=True)
class PlannerResult:
    """A validated plan and what it took to make it."""

    plan: Plan
    source: PlanSource
    usage: Usage
    latency_ms: float
    attempts: int = 1
    calls: tuple[LLMCall, ...] = ()
    playbook: str | None = None
    score: float | None = None


class Planner(Protocol):
    """Turns a goal into a validated plan, or raises a PlanningError saying why it cannot."""

    source: str

    @property
    def model(self) -> str | None: ...

    async def plan(self, request: PlanRequest, usage: UsageSink | None = None) -> PlannerResult:
        """Plan ``request.goal``; report each LLM call to ``usage`` as it happens."""

    async def aclose(self) -> None:
        """Release clients and connections."""
