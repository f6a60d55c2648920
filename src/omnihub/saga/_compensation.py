"""LIFO compensation inside the workflow: undo every pushed step, newest first.

Deterministic code for :mod:`omnihub.saga.workflows`; each undo runs as the
``compensate_step`` activity with its tool's retry policy and timeouts.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from omnihub.events import CompensationFailed
    from omnihub.saga._models import (
        CompensateInput,
        CompensationEntry,
        CompensationReport,
        StepPolicy,
    )
    from omnihub.saga._policy import activity_options, failure_message
    from omnihub.saga._recording import EventRecorder, step_event


async def compensate(
    stack: list[CompensationEntry],
    *,
    policy_for: Callable[[str], StepPolicy],
    recorder: EventRecorder,
) -> list[CompensationReport]:
    """Pop ``stack`` in strict LIFO order, one undo at a time; an undo that finally fails is
    recorded (CompensationFailed) and the rest still run. Entries leave the stack as they
    end, so the stack always shows what is left to undo."""
    reports: list[CompensationReport] = []
    while stack:
        entry = stack[-1]
        try:
            output = await workflow.execute_activity(
                "compensate_step",
                CompensateInput(
                    tenant_id=recorder.tenant_id,
                    goal_id=recorder.goal_id,
                    entry=entry,
                    at=workflow.now(),
                ),
                result_type=dict,
                **activity_options(policy_for(entry.tool)),
            )
            reports.append(
                CompensationReport(
                    step_id=entry.step_id, tool=entry.tool, status="executed", output=output
                )
            )
        except ActivityError as exc:
            error = failure_message(exc)
            failed = CompensationFailed(step_id=entry.step_id, tool_name=entry.tool, error=error)
            await recorder.record(step_event(failed, step_id=entry.step_id))
            reports.append(
                CompensationReport(
                    step_id=entry.step_id, tool=entry.tool, status="failed", error=error
                )
            )
        stack.pop()
    return reports
