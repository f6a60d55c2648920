from __future__ import annotations

from pathlib import Path

import pytest
from sagakit import awaiting_approval, saga_stack

from omnihub.plans import Plan, PlanStep
from omnihub.saga import ApprovalDecision, SagaOptions
from omnihub.servers import EmbeddedTemporal

STEPS = 305


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_long_goal_continues_as_new_and_still_undoes_every_step_in_lifo_order(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    writes = [
        PlanStep(
            id=f"w{n:03d}",
            tool="database_write",
            args={"table": "orders", "values": {"sku": f"sku{n:03d}", "qty": n}},
        )
        for n in range(STEPS)
    ]
    # The last step waits for a person, so the test can read the stack, then says no.
    gate = PlanStep(
        id="gate",
        tool="guarded_write",
        args={"table": "orders", "values": {"sku": "gate", "qty": 0}},
        depends_on=[step.id for step in writes],
    )
    options = SagaOptions(max_parallel_steps=8, continue_as_new_after_steps=100)
    async with saga_stack(temporal_server, tmp_path, options=options) as stack, stack.worker():
        goal_id = await stack.sagas.start("a long goal", Plan(steps=[*writes, gate]))
        state = await awaiting_approval(stack.sagas, goal_id, 240)
        assert state.runs >= 3  # continued as new at least twice
        pushed = [entry.step_id for entry in state.compensation_stack]
        assert sorted(pushed) == [step.id for step in writes]
        assert len(stack.rows()) == STEPS
        await stack.sagas.decide(
            goal_id, ApprovalDecision(step_id="gate", approved=False, decided_by="ann")
        )
        result = await stack.sagas.result(goal_id)
        assert result.status == "failed"
        assert result.metrics.runs == state.runs
        assert result.metrics.steps == STEPS
        # LIFO is judged against what the store recorded, not the workflow's own bookkeeping:
        # the order of StepCompleted events in the stream, reversed.
        events = stack.events(goal_id)
        completed = [
            e.payload.model_dump()["step_id"] for e in events if e.event_type == "StepCompleted"
        ]
        assert sorted(completed) == [step.id for step in writes]
        undone = [
            e.payload.model_dump()["step_id"]
            for e in events
            if e.event_type == "CompensationExecuted"
        ]
        assert undone == completed[::-1]
        assert [r.step_id for r in result.compensations] == completed[::-1]
        assert all(r.status == "executed" for r in result.compensations)
        # The last compensation is recorded after the last completion (nothing undone early).
        positions = {e.event_type: e.stream_version for e in events}
        assert positions["CompensationExecuted"] > positions["StepCompleted"]
        assert stack.rows() == []
