"""How a goal ends: its final event (GoalCompleted, GoalFailed or GoalCancelled) and answer.

Deterministic helpers for :mod:`omnihub.saga.workflows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from pydantic import JsonValue
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from omnihub.events import GoalCancelled, GoalCompleted, GoalFailed
    from omnihub.plans import Plan
    from omnihub.saga._models import CompensationReport, ControlRequest, EventSpec, SagaMetrics
    from omnihub.saga._recording import goal_event


def answer_step(plan: Plan | None) -> str | None:
    """The plan's last ``respond_to_user`` step: its message is the answer once every step ran."""
    last = None
    for step in plan.steps if plan else ():
        if step.tool == "respond_to_user":
            last = step.id
    return last


def completed_answer(step_id: str | None, outputs: dict[str, dict[str, Any]]) -> str | None:
    """The answer of a goal whose every step ran: the message of ``step_id`` (answer_step)."""
    return None if step_id is None else str(outputs[step_id].get("message"))


def answer_of(plan: Plan | None, outputs: dict[str, dict[str, Any]]) -> str | None:
    """The message of the plan's last ``respond_to_user`` step that ran, if any."""
    answer = None
    for step in plan.steps if plan else ():
        output = outputs.get(step.id)
        if step.tool == "respond_to_user" and output is not None:
            answer = str(output.get("message"))
    return answer


def final_event(
    status: str,
    *,
    outputs: dict[str, dict[str, Any]],
    answer: str | None,
    metrics: SagaMetrics,
    error: str | None,
    cancel: ControlRequest | None,
    reports: Sequence[CompensationReport],
) -> EventSpec:
    """The event that ends a goal with ``status`` (completed, failed or cancelled)."""
    # Tool outputs crossed Temporal as JSON, so they are JSON values.
    partial = cast("dict[str, JsonValue]", outputs)
    summary = [f"{r.step_id}:{r.tool}:{r.status}" for r in reports]
    if status == "completed":
        result = cast("JsonValue", {"outputs": outputs, "answer": answer})
        return goal_event(GoalCompleted(result=result, metrics=metrics.model_dump()))
    if status == "failed":
        return goal_event(
            GoalFailed(error=error or "failed", partial_results=partial, compensations=summary)
        )
    assert cancel is not None
    return goal_event(
        GoalCancelled(
            reason=cancel.reason or "cancelled",
            cancelled_by=cancel.by,
            partial_results=partial,
            compensations=summary,
        )
    )
