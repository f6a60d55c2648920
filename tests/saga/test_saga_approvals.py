from __future__ import annotations

from pathlib import Path

import pytest
from sagakit import SagaStack, awaiting_approval, saga_stack

from omnihub.errors import NotFoundError, ValidationError
from omnihub.plans import Plan, PlanStep
from omnihub.saga import ApprovalDecision, SagaOptions
from omnihub.servers import EmbeddedTemporal


def _plan() -> Plan:
    return Plan(
        steps=[
            PlanStep(
                id="s1",
                tool="database_write",
                args={"table": "orders", "values": {"sku": "first", "qty": 1}},
            ),
            PlanStep(
                id="s2",
                tool="guarded_write",
                args={"table": "orders", "values": {"sku": "guarded", "qty": 2}},
                depends_on=["s1"],
            ),
        ]
    )


async def test_an_approved_step_runs_and_the_query_shows_the_wait(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("guarded", _plan())
    await awaiting_approval(stack.sagas, goal_id)
    state = await stack.sagas.state(goal_id)
    assert state.status == "awaiting_approval"
    assert [p.step_id for p in state.pending_approvals] == ["s2"]
    assert state.pending_approvals[0].risk == "red"
    assert state.completed_steps == ["s1"]
    assert [c.step_id for c in state.compensation_stack] == ["s1"]
    assert state.plan == _plan()
    assert state.running_steps == []
    decision = ApprovalDecision(step_id="s2", approved=True, decided_by="ann", reason="fine")
    assert await stack.sagas.decide(goal_id, decision) == decision
    # The update returned, so the decision is recorded already.
    granted = [e for e in stack.events(goal_id) if e.event_type == "ApprovalGranted"]
    assert granted[0].payload.model_dump()["decided_by"] == "ann"
    result = await stack.sagas.result(goal_id)
    assert result.status == "completed"
    assert sorted(r["sku"] for r in stack.rows()) == ["first", "guarded"]
    final = await stack.sagas.state(goal_id)
    assert final.status == "completed"


async def test_a_rejected_step_fails_the_goal_and_undoes_the_rest(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("guarded", _plan())
    await awaiting_approval(stack.sagas, goal_id)
    await stack.sagas.decide(
        goal_id, ApprovalDecision(step_id="s2", approved=False, decided_by="bob", reason="no")
    )
    result = await stack.sagas.result(goal_id)
    assert result.status == "failed"
    assert result.failed_step == "s2"
    assert result.error == "approval rejected by bob: no"
    assert [r.step_id for r in result.compensations] == ["s1"]
    assert stack.rows() == []
    types = stack.event_types(goal_id)
    assert types.count("ApprovalRequested") == 1
    assert types.count("ApprovalRejected") == 1
    assert "ApprovalGranted" not in types


async def test_a_decision_for_a_step_that_is_not_waiting_is_refused(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("guarded", _plan())
    await awaiting_approval(stack.sagas, goal_id)
    with pytest.raises(ValidationError, match="not waiting for approval"):
        await stack.sagas.decide(
            goal_id, ApprovalDecision(step_id="s1", approved=True, decided_by="ann")
        )
    with pytest.raises(NotFoundError):
        await stack.sagas.state("no-such-goal")
    await stack.sagas.decide(goal_id, ApprovalDecision(step_id="s2", approved=True, decided_by="a"))
    assert (await stack.sagas.result(goal_id)).status == "completed"


async def test_an_unanswered_approval_times_out_as_rejected(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    options = SagaOptions(approval_timeout_s=1.0)
    async with saga_stack(temporal_server, tmp_path, options=options) as stack, stack.worker():
        goal_id = await stack.sagas.start("nobody answers", _plan())
        result = await stack.sagas.result(goal_id)
        assert result.status == "failed"
        assert result.error == "approval rejected by system: approval timed out"
        rejected = [e for e in stack.events(goal_id) if e.event_type == "ApprovalRejected"]
        assert rejected[0].payload.model_dump()["timed_out"] is True
        assert stack.rows() == []
