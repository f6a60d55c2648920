from __future__ import annotations

import pytest
from sagakit import SagaStack, wait_for

from omnihub.errors import ValidationError
from omnihub.plans import Plan, PlanStep
from omnihub.saga import ControlRequest


def _slow_plan() -> Plan:
    return Plan(
        steps=[
            PlanStep(
                id="s1",
                tool="database_write",
                args={"table": "orders", "values": {"sku": "kept?", "qty": 1}},
            ),
            PlanStep(id="s2", tool="sleep", args={"seconds": 1.5}, depends_on=["s1"]),
            PlanStep(
                id="s3",
                tool="database_write",
                args={"table": "orders", "values": {"sku": "never", "qty": 3}},
                depends_on=["s2"],
            ),
        ]
    )


def _started(stack: SagaStack, goal_id: str, step_id: str) -> bool:
    return any(
        e.event_type == "StepStarted" and e.payload.model_dump()["step_id"] == step_id
        for e in stack.events(goal_id)
    )


async def test_cancel_mid_run_compensates_and_ends_cancelled(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("to be cancelled", _slow_plan())
    await wait_for(lambda: _started(stack, goal_id, "s2"))
    await stack.sagas.cancel(goal_id, ControlRequest(by="ann", reason="changed my mind"))
    result = await stack.sagas.result(goal_id)
    assert result.status == "cancelled"
    assert [r.step_id for r in result.compensations] == ["s1"]
    assert "s3" not in result.outputs
    assert stack.rows() == []
    last = stack.events(goal_id)[-1]
    assert last.event_type == "GoalCancelled"
    assert last.payload.model_dump()["cancelled_by"] == "ann"
    assert last.payload.model_dump()["reason"] == "changed my mind"


async def test_pause_holds_new_steps_until_resume(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("paused in the middle", _slow_plan())
    await wait_for(lambda: _started(stack, goal_id, "s2"))
    await stack.sagas.pause(goal_id, ControlRequest(by="ann"))
    await stack.sagas.pause(goal_id)  # a second pause changes nothing
    await wait_for(lambda: "GoalPaused" in stack.event_types(goal_id))
    await wait_for(lambda: "StepCompleted" in stack.event_types(goal_id)[-1:])
    state = await stack.sagas.state(goal_id)
    assert state.status == "paused"
    assert state.completed_steps == ["s1", "s2"]
    assert not _started(stack, goal_id, "s3")
    await stack.sagas.resume(goal_id, ControlRequest(by="ann", reason="go on"))
    result = await stack.sagas.result(goal_id)
    assert result.status == "completed"
    types = stack.event_types(goal_id)
    assert types.count("GoalPaused") == 1
    assert types.count("GoalResumed") == 1
    with pytest.raises(ValidationError, match="has ended already"):
        await stack.sagas.cancel(goal_id)
    assert (await stack.sagas.state(goal_id)).status == "completed"


async def test_a_temporal_cancellation_also_unwinds_the_goal(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("cancelled through Temporal", _slow_plan())
    await wait_for(lambda: _started(stack, goal_id, "s2"))
    await stack.sagas.handle(goal_id).cancel()
    result = await stack.sagas.result(goal_id)
    assert result.status == "cancelled"
    assert [r.step_id for r in result.compensations] == ["s1"]
    assert stack.rows() == []
    assert stack.events(goal_id)[-1].payload.model_dump()["cancelled_by"] == "temporal"


async def test_a_cancel_during_the_last_step_comes_too_late_and_the_goal_completes(
    stack: SagaStack,
) -> None:
    # The last step's activity records the goal's end with the step: once it runs, nothing
    # is left to stop, and the goal completes with its effects kept.
    plan = Plan(steps=_slow_plan().steps[:2])
    goal_id = await stack.sagas.start("cancelled too late", plan)
    await wait_for(lambda: _started(stack, goal_id, "s2"))
    await stack.sagas.cancel(goal_id, ControlRequest(by="ann", reason="too late"))
    result = await stack.sagas.result(goal_id)
    assert result.status == "completed"
    assert result.compensations == []
    assert len(stack.rows()) == 1
    types = stack.event_types(goal_id)
    assert types[-3:] == ["ToolExecuted", "StepCompleted", "GoalCompleted"]
    assert "GoalCancelled" not in types
    assert "CompensationExecuted" not in types
