"""Short steps run as local activities: in the goal's workflow task, with the same events,
exactly-once effects and LIFO compensation as regular steps."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pydantic import BaseModel
from sagakit import FAST, WRITE, Note, SagaStack, saga_stack
from temporalio.api.enums.v1 import EventType

from omnihub.errors import ToolError
from omnihub.plans import Plan, PlanStep
from omnihub.saga import SagaClient, goal_workflow_id
from omnihub.servers import EmbeddedTemporal
from omnihub.tools import ToolContext, ToolSpec, tool

# database_write, declared short: the saga runs it as a local activity.
QUICK_WRITE = dataclasses.replace(WRITE, name="quick_write", start_to_close_timeout_s=2.0)


class Empty(BaseModel):
    pass


def _quick_fail() -> ToolSpec:
    async def fail(args: Empty, ctx: ToolContext) -> Note:
        raise ToolError("quick_fail always fails", non_retryable=False)

    return tool(name="quick_fail", retry=FAST, start_to_close_timeout_s=2.0)(fail)


def _write(step_id: str, after: list[str]) -> PlanStep:
    return PlanStep(
        id=step_id,
        tool="quick_write",
        args={"table": "orders", "values": {"sku": step_id}},
        depends_on=after,
    )


async def _history_types(stack: SagaStack, goal_id: str) -> list[EventType.ValueType]:
    handle = stack.client.get_workflow_handle(goal_workflow_id("default", goal_id))
    return [e.event_type for e in (await handle.fetch_history()).events]


async def test_short_steps_run_in_the_workflow_task_and_act_once(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    async with saga_stack(temporal_server, tmp_path, [QUICK_WRITE]) as stack, stack.worker():
        sagas = SagaClient(stack.client, task_queue=stack.task_queue, eager_start=True)
        plan = Plan(steps=[_write("a", []), _write("b", ["a"]), _write("c", ["b"])])
        goal_id = await sagas.start("three quick writes", plan)
        result = await sagas.result(goal_id)
        assert result.status == "completed"
        assert sorted(row["sku"] for row in stack.rows()) == ["a", "b", "c"]
        types = await _history_types(stack, goal_id)
        # No activity task went through the server: every step ran locally.
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in types
        assert EventType.EVENT_TYPE_MARKER_RECORDED in types
        events = stack.event_types(goal_id)
        assert events.count("StepCompleted") == 3
        assert events.count("PolicyEvaluated") >= 3  # the plan's and every step's decisions
        # The step's decision is recorded before its start, both before the tool ran.
        first = events.index("StepStarted")
        assert events[first - 1] == "PolicyEvaluated"
        assert events[first + 1] == "ToolExecuted"


async def test_a_failing_short_step_undoes_the_short_steps_before_it_in_lifo_order(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    tools = [QUICK_WRITE, _quick_fail()]
    async with saga_stack(temporal_server, tmp_path, tools) as stack, stack.worker():
        plan = Plan(
            steps=[
                _write("a", []),
                _write("b", ["a"]),
                PlanStep(id="boom", tool="quick_fail", depends_on=["b"]),
            ]
        )
        goal_id = await stack.sagas.start("fails after two quick writes", plan)
        result = await stack.sagas.result(goal_id)
        assert result.status == "failed"
        assert result.failed_step == "boom"
        assert result.error is not None
        assert "quick_fail always fails" in result.error
        assert [(r.step_id, r.status) for r in result.compensations] == [
            ("b", "executed"),
            ("a", "executed"),
        ]
        assert stack.rows() == []
        started = [
            e.payload.model_dump()["step_id"]
            for e in stack.events(goal_id)
            if e.event_type == "StepStarted"
        ]
        assert started == ["a", "b", "boom", "boom", "boom"]  # FAST allows three attempts
