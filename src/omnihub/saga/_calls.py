"""The workflow's calls of the goal and step activities, with their timeouts and retries.

Deterministic code for :mod:`omnihub.saga.workflows`; the activities themselves (all I/O) are
in :mod:`omnihub.saga.activities`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from omnihub.saga._models import (
        PlanningInput,
        PrepareResult,
        StepFinish,
        StepInput,
        StepPolicy,
        StepResult,
    )
    from omnihub.saga._policy import LOCAL_TIMEOUT, RECORD_RETRY, activity_options, retry_policy

# Patch id: a short step runs as a local activity (histories from before ran all as regular).
LOCAL_STEPS = "local-steps"


async def prepare_goal(
    prepare: PlanningInput, *, retry: RetryPolicy = RECORD_RETRY
) -> PrepareResult:
    """Record the goal, obtain and validate its plan (the ``prepare_goal`` local activity)."""
    # saga2: ``retry`` lets the workflow bound the tries (a failed prepare fails the goal).
    prepared: PrepareResult = await workflow.execute_local_activity(
        "prepare_goal",
        prepare,
        result_type=PrepareResult,
        start_to_close_timeout=LOCAL_TIMEOUT,
        retry_policy=retry,
    )
    return prepared


async def execute_step(
    *,
    tenant_id: str,
    goal_id: str,
    step_id: str,
    tool: str,
    args: dict[str, Any],
    policy: StepPolicy,
    finish: StepFinish | None = None,
) -> StepResult:
    """Run one step's tool with its policy (the ``execute_step`` activity); ActivityError when
    it finally fails.

    A short step (``policy.local``) runs as a local activity: it needs no server round trip
    or workflow task of its own, and a re-execution after a worker died (the workflow task
    times out and runs again elsewhere) acts once through the idempotency ledger, with its
    events appended once under their keys. Long, heartbeating and approved steps stay
    regular activities, whose heartbeats notice a dead worker sooner.

    ``finish`` (the goal's last step): the activity records GoalCompleted in the same append
    as the step's completion and says so in ``StepResult.ended``.
    """
    step = StepInput(
        tenant_id=tenant_id,
        goal_id=goal_id,
        step_id=step_id,
        tool=tool,
        args=args,
        at=workflow.now(),
        finish=finish,
    )
    if policy.local and workflow.patched(LOCAL_STEPS):
        local: StepResult = await workflow.execute_local_activity(
            "execute_step",
            step,
            result_type=StepResult,
            start_to_close_timeout=timedelta(seconds=policy.start_to_close_timeout_s),
            retry_policy=retry_policy(policy.retry),
        )
        return local
    result: StepResult = await workflow.execute_activity(
        "execute_step", step, result_type=StepResult, **activity_options(policy)
    )
    return result


def attempts_spent(exc: BaseException, policy: StepPolicy) -> int:
    """How many attempts a failed step used: all of them when retries ran out (a local
    step's failure may arrive unwrapped, without a retry state: one attempt is counted)."""
    exhausted = (
        isinstance(exc, ActivityError) and exc.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    )
    return policy.retry.max_attempts if exhausted else 1


def retryable(exc: BaseException, policy: StepPolicy) -> bool:
    """Whether a failed step might succeed if run again: its retries ran out or timed out on a
    transient error. False when the tool said retrying cannot help (a non-retryable error, or
    an error type the tool's policy lists as non-retryable)."""
    if isinstance(exc, ActivityError) and exc.retry_state == RetryState.NON_RETRYABLE_FAILURE:
        return False
    cause: BaseException | None = exc
    while isinstance(cause, ActivityError):
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return not cause.non_retryable and cause.type not in policy.retry.non_retryable_error_types
    return True
