"""Inputs that break preparing a goal or recording its end: the goal ends with GoalFailed and
a reason, after bounded tries, and is never left retrying forever."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from sagakit import WRITE, saga_stack

from omnihub.plans import Plan, PlanStep
from omnihub.saga import PlanningInput, ProvidedPlan, SagaActivities, SagaOptions, build_worker
from omnihub.servers import EmbeddedTemporal
from omnihub.tools import DatabaseWriteInput, ToolContext, ToolSpec, tool

# Larger than one event may be (the store's default limit is 256 KiB), smaller than what
# Temporal carries.
BIG = 300 * 1024


def _types(events: list[object]) -> list[str]:
    return [e.event_type for e in events]  # type: ignore[attr-defined]


async def test_a_plan_too_large_to_record_fails_the_goal(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    step = PlanStep(
        id="s1", tool="database_write", args={"table": "orders", "values": {"sku": "x" * BIG}}
    )
    async with saga_stack(temporal_server, tmp_path) as stack, stack.worker():
        goal_id = await stack.sagas.start("a plan the store refuses", Plan(steps=[step]))
        result = await stack.sagas.result(goal_id)
        assert result.status == "failed"
        assert result.error is not None
        assert result.error.startswith("cannot prepare the goal: PayloadTooLargeError")
        events = stack.events(goal_id)
        assert _types(events) == ["GoalReceived", "GoalFailed"]
        assert events[-1].payload.model_dump()["error"] == result.error
        assert stack.rows() == []


class Exploding:
    """A planner with a bug: every call raises an error no one planned for."""

    def __init__(self) -> None:
        self.calls = 0

    async def plan(self, request: PlanningInput) -> ProvidedPlan:
        self.calls += 1
        raise RuntimeError("planner bug")


async def test_an_unexpected_planning_error_fails_the_goal_after_bounded_tries(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    options = SagaOptions(prepare_attempts=3)
    planner = Exploding()
    async with saga_stack(temporal_server, tmp_path, options=options) as stack:
        activities = SagaActivities(stack.registry, stack.resources, stack.store, planner)
        async with build_worker(stack.client, activities, task_queue=stack.task_queue):
            goal_id = await stack.sagas.start("plan me")
            result = await stack.sagas.result(goal_id)
        assert result.status == "failed"
        assert result.error == "cannot prepare the goal: RuntimeError: planner bug"
        assert planner.calls == 3
        assert _types(stack.events(goal_id)) == ["GoalReceived", "GoalFailed"]


class Blob(BaseModel):
    record_id: str
    blob: str


def _big_write() -> ToolSpec:
    """database_write whose output is large: two of them fit in their own events, but not
    together in the goal's GoalCompleted."""

    async def big_write(args: DatabaseWriteInput, ctx: ToolContext) -> Blob:
        out = await WRITE.func(args, ctx)
        return Blob(record_id=out.record_id, blob="y" * (BIG // 2))

    return tool(name="big_write", side_effect=True, compensation=WRITE.compensation)(big_write)


async def test_a_goal_whose_end_cannot_be_recorded_is_undone_and_fails(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    steps = [
        PlanStep(
            id=f"s{n}",
            tool="big_write",
            args={"table": "orders", "values": {"sku": f"sku{n}"}},
            depends_on=[f"s{n - 1}"] if n else [],
        )
        for n in range(2)
    ]
    async with saga_stack(temporal_server, tmp_path, [_big_write()]) as stack, stack.worker():
        goal_id = await stack.sagas.start("outputs too large together", Plan(steps=steps))
        result = await stack.sagas.result(goal_id)
        assert result.status == "failed"
        assert result.error is not None
        assert result.error.startswith("cannot record the goal's end: PayloadTooLargeError")
        assert [(r.step_id, r.status) for r in result.compensations] == [
            ("s1", "executed"),
            ("s0", "executed"),
        ]
        types = _types(stack.events(goal_id))
        assert "GoalCompleted" not in types
        assert types[-3:] == ["CompensationExecuted", "CompensationExecuted", "GoalFailed"]
        assert stack.rows() == []
