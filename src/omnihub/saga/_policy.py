"""How the workflow calls activities: retry policies, timeouts and failure messages.

Deterministic helpers for :mod:`omnihub.saga.workflows`; no I/O.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from omnihub.saga._models import RetryPolicyModel, StepPolicy

LOCAL_TIMEOUT = timedelta(seconds=60)
"""Start-to-close timeout of the local activities (prepare the goal, record events)."""

RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    non_retryable_error_types=["ValidationError", "PayloadTooLargeError"],
)
"""Retry policy of the local activities: retry the store until it answers, never bad data."""


def bounded_retry(attempts: int) -> RetryPolicy:
    """RECORD_RETRY, but giving up after ``attempts`` tries: for preparing a goal and recording
    its end, where an unexpected error (a plan that breaks validation, an event the store
    refuses) must end the goal rather than retry forever."""
    return RetryPolicy(
        initial_interval=RECORD_RETRY.initial_interval,
        maximum_interval=RECORD_RETRY.maximum_interval,
        maximum_attempts=attempts,
        non_retryable_error_types=RECORD_RETRY.non_retryable_error_types,
    )


def store_unavailable(exc: BaseException) -> bool:
    """Whether an activity's tries ran out on the store not answering (StoreError): an outage
    to wait out, not an input to give up on."""
    cause: BaseException | None = exc
    while isinstance(cause, ActivityError):
        cause = cause.cause
    return isinstance(cause, ApplicationError) and cause.type == "StoreError"


def retry_policy(model: RetryPolicyModel) -> RetryPolicy:
    """Temporal's retry policy for a tool's retry settings."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=model.initial_interval_s),
        backoff_coefficient=model.backoff,
        maximum_interval=timedelta(seconds=model.max_interval_s),
        maximum_attempts=model.max_attempts,
        non_retryable_error_types=model.non_retryable_error_types or None,
    )


def activity_options(policy: StepPolicy) -> dict[str, Any]:
    """The timeouts and retry policy of a tool's activity (a step or its compensation)."""
    return {
        "start_to_close_timeout": timedelta(seconds=policy.start_to_close_timeout_s),
        "heartbeat_timeout": (
            timedelta(seconds=policy.heartbeat_timeout_s) if policy.heartbeat_timeout_s else None
        ),
        "retry_policy": retry_policy(policy.retry),
    }


def failure_message(exc: BaseException) -> str:
    """The innermost failure's message: what the tool said, not Temporal's wrapper."""
    while isinstance(exc, ActivityError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, ApplicationError) and exc.type:
        return f"{exc.type}: {exc.message}"
    if isinstance(exc, TemporalTimeoutError) and "timeout" not in exc.message.lower():
        # A local step's timeout says only "Activity timed out": name which timeout fired.
        return f"{exc.message} ({exc.type.name if exc.type else 'unknown'} timeout)"
    return str(exc) or type(exc).__name__


def default_policy(tool: str) -> StepPolicy:
    """The policy of a tool the worker's registry did not describe (cautious defaults)."""
    return StepPolicy(
        tool=tool,
        side_effect=True,
        requires_approval=False,
        risk="yellow",
        retry=RetryPolicyModel(
            initial_interval_s=1.0, backoff=2.0, max_interval_s=60.0, max_attempts=5
        ),
        start_to_close_timeout_s=30.0,
        heartbeat_timeout_s=10.0,
    )
