"""Time limits: a goal's deadline (a durable timer that cancels and compensates the goal) and
a tool's start-to-close timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from sagakit import Note, SagaStack, saga_stack
from temporalio.api.enums.v1 import EventType

from omnihub.goals import GoalRequest
from omnihub.plans import Plan, PlanStep
from omnihub.saga import goal_workflow_id
from omnihub.servers import EmbeddedTemporal
from omnihub.tools import RetrySpec, ToolContext, ToolSpec, tool


def _write(step_id: str) -> PlanStep:
    return PlanStep(
        id=step_id, tool="database_write", args={"table": "orders", "values": {"sku": step_id}}
    )


async def _timers_fired(stack: SagaStack, goal_id: str) -> int:
    handle = stack.client.get_workflow_handle(goal_workflow_id("default", goal_id))
    history = await handle.fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED)


async def test_a_goal_past_its_deadline_is_cancelled_and_undone(stack: SagaStack) -> None:
    # The second step waits for an approval no one gives: only the deadline ends the goal.
    gate = PlanStep(
        id="gate",
        tool="guarded_write",
        args={"table": "orders", "values": {"sku": "gate"}},
        depends_on=["w1"],
    )
    plan = Plan(steps=[_write("w1"), gate])
    goal_id = await stack.sagas.start("too slow", plan, deadline_s=2.0)
    result = await stack.sagas.result(goal_id)
    assert result.status == "cancelled"
    assert [(r.step_id, r.status) for r in result.compensations] == [("w1", "executed")]
    assert stack.rows() == []
    assert 2.0 <= result.metrics.duration_s < 30
    cancelled = [e for e in stack.events(goal_id) if e.event_type == "GoalCancelled"]
    payload = cancelled[0].payload.model_dump()
    assert payload["cancelled_by"] == "deadline"
    assert payload["reason"] == "the goal's deadline of 2 s passed"
    # A Temporal timer, so the deadline holds across worker restarts.
    assert await _timers_fired(stack, goal_id) == 1


async def test_a_goal_within_its_deadline_completes(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("quick", Plan(steps=[_write("w1")]), deadline_s=60.0)
    result = await stack.sagas.result(goal_id)
    assert result.status == "completed"
    assert len(stack.rows()) == 1
    assert await _timers_fired(stack, goal_id) == 0


def test_a_goal_request_takes_a_positive_deadline() -> None:
    assert GoalRequest(goal="g", deadline_s=30).deadline_s == 30
    assert GoalRequest(goal="g").deadline_s is None
    for bad in (0, -1, 10**9):
        with pytest.raises(ValidationError):
            GoalRequest(goal="g", deadline_s=bad)


class Nap(BaseModel):
    seconds: float


def _stuck_tool() -> ToolSpec:
    async def stuck(args: Nap, ctx: ToolContext) -> Note:
        await asyncio.sleep(args.seconds)  # never heartbeats, never returns in time
        return Note(note="woke")

    return tool(
        name="stuck",
        retry=RetrySpec(initial_interval_s=0.05, max_interval_s=0.2, max_attempts=2),
        start_to_close_timeout_s=0.5,
        heartbeat_timeout_s=None,
    )(stuck)


async def test_a_tools_start_to_close_timeout_fails_its_step(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    plan = Plan(
        steps=[
            _write("w1"),
            PlanStep(id="slow", tool="stuck", args={"seconds": 30}, depends_on=["w1"]),
        ]
    )
    async with saga_stack(temporal_server, tmp_path, [_stuck_tool()]) as stack, stack.worker():
        goal_id = await stack.sagas.start("a tool that hangs", plan)
        result = await asyncio.wait_for(stack.sagas.result(goal_id), 20)
        assert result.status == "failed"
        assert result.failed_step == "slow"
        assert result.error is not None
        assert "timeout" in result.error.lower()
        assert result.metrics.duration_s < 10  # the timeout fired, the 30 s sleep did not end
        started = [e for e in stack.events(goal_id) if e.event_type == "StepStarted"]
        assert [e.payload.model_dump()["step_id"] for e in started] == ["w1", "slow", "slow"]
        assert [(r.step_id, r.status) for r in result.compensations] == [("w1", "executed")]
        assert stack.rows() == []
