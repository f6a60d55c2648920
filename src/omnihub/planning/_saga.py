"""Planning inside the saga: the planning flow behind the saga's ``PlanProvider`` interface.

The saga plans in an activity. Errors that a later attempt may fix (rate limits, provider
outages) leave the activity as retryable Temporal failures, so the activity's own retry policy
applies (with the provider's Retry-After as the next delay); every other planning error is an
OmniHubError the saga turns into a failed goal with the reason.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from omnihub.errors import PlanningError, ProviderRateLimitError
from omnihub.planning._flow import PlanningOutcome, PlanningService
from omnihub.planning._planner import PlanRequest
from omnihub.plans import Plan


class SagaPlanProvider:
    """``plan(tenant_id, goal, user_id) -> Plan`` for ``SagaActivities(planner=…)``.

    ``outcomes`` keeps each goal's latest :class:`PlanningOutcome` (source, model, usage, cost,
    latency) by goal id, for the PlanGenerated event.
    """

    def __init__(self, service: PlanningService) -> None:
        self.service = service
        self.outcomes: dict[str, PlanningOutcome] = {}

    async def plan(self, tenant_id: str, goal: str, user_id: str) -> Plan:
        goal_id: str | None = None
        if activity.in_activity() and activity.info().workflow_id:
            # The saga's workflow id is "goal/<tenant>/<goal id>".
            goal_id = str(activity.info().workflow_id).removeprefix(f"goal/{tenant_id}/")
        request = PlanRequest(goal=goal, tenant=tenant_id, goal_id=goal_id)
        try:
            outcome = await self.service.plan_goal(request)
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
        if goal_id is not None:
            self.outcomes[goal_id] = outcome
        return outcome.plan
