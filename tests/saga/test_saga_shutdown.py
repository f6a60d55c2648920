"""A worker that is stopped (SIGTERM) lets its running activities finish before it exits."""

from __future__ import annotations

from pathlib import Path

from sagakit import saga_stack, wait_for

from omnihub.config import load_settings
from omnihub.plans import Plan, PlanStep
from omnihub.saga import SagaActivities, build_worker
from omnihub.servers import EmbeddedTemporal


async def test_a_stopping_worker_lets_a_running_step_finish(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    plan = Plan(steps=[PlanStep(id="nap", tool="sleep", args={"seconds": 1.5})])
    async with saga_stack(temporal_server, tmp_path) as stack:
        activities = SagaActivities(stack.registry, stack.resources, stack.store)
        worker = build_worker(
            stack.client, activities, task_queue=stack.task_queue, graceful_shutdown_s=20
        )
        async with worker:
            goal_id = await stack.sagas.start("a step running at shutdown", plan)
            await wait_for(lambda: "StepStarted" in stack.event_types(goal_id))
        # The worker has stopped: its step ran to the end and was recorded, not cut short
        # (the goal's only step, so its activity recorded the goal's end with it).
        recorded = ["ToolExecuted", "StepCompleted", "GoalCompleted"]
        assert stack.event_types(goal_id)[-3:] == recorded
        async with stack.worker():
            result = await stack.sagas.result(goal_id)
        assert result.status == "completed"
        assert result.outputs["nap"] == {"note": "slept"}
        # Once: no attempt was cancelled and retried.
        assert stack.event_types(goal_id).count("StepStarted") == 1
        assert result.metrics.attempts == 1


def test_the_grace_period_is_a_setting() -> None:
    assert load_settings().worker_graceful_shutdown_s == 30.0
    assert load_settings(worker_graceful_shutdown_s=5).worker_graceful_shutdown_s == 5.0
