from __future__ import annotations

from pathlib import Path

from sagakit import SagaStack, saga_stack

from omnihub.events import project_goal
from omnihub.plans import Plan, PlanStep
from omnihub.servers import EmbeddedTemporal

REF = "$ref"


def _order(step_id: str, sku: str, *deps: str) -> PlanStep:
    return PlanStep(
        id=step_id,
        tool="database_write",
        args={"table": "orders", "values": {"sku": sku, "qty": 1}},
        depends_on=list(deps),
    )


async def test_a_goal_runs_its_plan_and_records_every_event(stack: SagaStack) -> None:
    plan = Plan(
        steps=[
            _order("s1", "apple"),
            PlanStep(
                id="s2",
                tool="database_query",
                args={"table": "orders", "where": {"id": {REF: "steps.s1.output.record_id"}}},
                depends_on=["s1"],
            ),
            PlanStep(
                id="s3", tool="respond_to_user", args={"message": "ordered"}, depends_on=["s2"]
            ),
        ]
    )
    goal_id = await stack.sagas.start("order an apple", plan)
    result = await stack.sagas.result(goal_id)
    assert result.status == "completed"
    assert result.answer == "ordered"
    assert result.outputs["s2"]["rows"][0]["sku"] == "apple"
    assert result.metrics.steps == 3
    assert result.metrics.attempts == 3
    assert [r["sku"] for r in stack.rows()] == ["apple"]
    assert stack.event_types(goal_id) == [
        "GoalReceived",
        "PlanGenerated",
        *["PolicyEvaluated"] * 3,  # each step decided when the plan was made
        *["PolicyEvaluated", "StepStarted", "ToolExecuted", "StepCompleted"] * 3,
        "GoalCompleted",
    ]
    state = project_goal(stack.events(goal_id))
    assert state.status == "completed"
    assert [s.status for s in state.steps] == ["completed"] * 3


async def test_a_goal_on_postgresql_records_and_undoes_through_it(
    temporal_server: EmbeddedTemporal, tmp_path: Path, postgres_url: str
) -> None:
    """The scale-out backends: event store, ledger and tool tables on PostgreSQL."""
    plan = Plan(
        steps=[
            _order("s1", "pear"),
            _order("s2", "plum", "s1"),
            PlanStep(id="s3", tool="always_fails", depends_on=["s2"]),
        ]
    )
    async with saga_stack(temporal_server, tmp_path, db_url=postgres_url) as pg, pg.worker():
        goal_id = await pg.sagas.start("two orders, then a failure", plan)
        result = await pg.sagas.result(goal_id)
        assert result.status == "failed"
        assert [r.step_id for r in result.compensations] == ["s2", "s1"]
        assert pg.rows() == []
        assert pg.resources.ledger.count(f"default/{goal_id}/") == 4  # two do, two undo
        state = project_goal(pg.events(goal_id))
        assert state.status == "failed"
        assert [c.step_id for c in state.compensations] == ["s2", "s1"]
