"""Planning inside the saga: the planning flow behind the saga's ``PlanProvider`` interface.

The saga plans in an activity. Errors that a later attempt may fix (rate limits, provider
outages) leave the activity as retryable Temporal failures, so the activity's own retry policy
applies (with the provider's Retry-After as the next delay); every other planning error is an
OmniHubError the saga turns into a failed goal with the reason.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from omnihub.errors import PlanningError, ProviderRateLimitError
from omnihub.planning._flow import PlanningOutcome, PlanningService
from omnihub.planning._planner import PlanRequest
from omnihub.saga import PlanningInput, ProvidedPlan


class SagaPlanProvider:
    """The saga's :class:`omnihub.saga.PlanProvider`, backed by the planning flow.

    ``outcomes`` keeps each goal's latest :class:`PlanningOutcome` (source, model, usage, cost,
    latency) by goal id; the PlanGenerated event gets the same source, model, usage and cache
    details through the returned :class:`ProvidedPlan`.
    """

    def __init__(self, service: PlanningService) -> None:
        self.service = service
        self.outcomes: dict[str, PlanningOutcome] = {}

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
