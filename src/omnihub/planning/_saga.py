"""Planning inside the saga: the planning flow behind the saga's ``PlanProvider`` interface.

The saga plans in an activity. Errors that a later attempt may fix (rate limits, provider
outages) leave the activity as retryable Temporal failures, so the activity's own retry policy
applies (with the provider's Retry-After as the next delay); every other planning error is an
OmniHubError the saga turns into a failed goal with the reason.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from omnihub.errors import PlanningError, ProviderRateLimitError
from omnihub.planning._flow import PlanningOutcome, PlanningService
from omnihub.planning._planner import PlanRequest
from omnihub.saga import PlanningInput, ProvidedPlan

#: How many goals' outcomes a provider remembers (`omnihub bench planning-memory`: ~0.5 KiB
#: each with a small plan, so ~2 MiB at the bound).
MAX_OUTCOMES = 4096


class RecentOutcomes(OrderedDict[str, PlanningOutcome]):
    """The latest planning outcomes by goal id, the least recently planned dropped past
    ``limit``: a long-running worker plans without end, and the events keep the record."""

    def __init__(self, limit: int = MAX_OUTCOMES) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.limit = limit

    def __setitem__(self, goal_id: str, outcome: PlanningOutcome) -> None:
        super().__setitem__(goal_id, outcome)
        self.move_to_end(goal_id)
        while len(self) > self.limit:
            self.popitem(last=False)


class SagaPlanProvider:
    """The saga's :class:`omnihub.saga.PlanProvider`, backed by the planning flow.

    ``outcomes`` keeps the latest :class:`PlanningOutcome` (source, model, usage, cost,
    latency) of the last ``max_outcomes`` goals by goal id; the PlanGenerated event gets the
    same source, model, usage and cache details through the returned :class:`ProvidedPlan`.
    """

    def __init__(self, service: PlanningService, *, max_outcomes: int = MAX_OUTCOMES) -> None:
        self.service = service
        self.outcomes = RecentOutcomes(max_outcomes)

    async def plan(self, request: PlanningInput) -> ProvidedPlan:
        planning = PlanRequest.for_goal(request, now=request.at)
        try:
            outcome = await self.service.plan_goal(
                planning, budget_approved=request.budget_approved
            )
        except PlanningError as exc:
            if not exc.retryable:
                raise
            delay = exc.retry_after if isinstance(exc, ProviderRateLimitError) else None
            raise ApplicationError(
                str(exc),
                type=type(exc).__name__,
                non_retryable=False,
                next_retry_delay=timedelta(seconds=delay) if delay else None,
            ) from exc
        self.outcomes[request.goal_id] = outcome
        made = outcome.event_payload()
        return ProvidedPlan(
            plan=outcome.plan,
            source=outcome.source,
            model=made["model"],
            token_usage=made["token_usage"],
            cache=made["cache"],
            cost=made["cost"],
            latency_ms=made["latency_ms"],
        )
