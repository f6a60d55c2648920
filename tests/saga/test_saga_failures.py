from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from sagakit import SagaStack, saga_stack

from omnihub.plans import Plan, PlanStep
from omnihub.servers import EmbeddedTemporal
from omnihub.tools import Compensation, ToolContext, ToolSpec, tool


def _chain(*steps: tuple[str, str]) -> Plan:
    """Steps run one after the other: (tool, sku) pairs, ids s1, s2, …"""
    built = []
    for n, (tool_name, sku) in enumerate(steps, start=1):
        args = {"table": "orders", "values": {"sku": sku, "qty": n}} if "write" in tool_name else {}
        built.append(
            PlanStep(
                id=f"s{n}", tool=tool_name, args=args, depends_on=[f"s{n - 1}"] if n > 1 else []
            )
        )
    return Plan(steps=built)


def _payloads(stack: SagaStack, goal_id: str, event_type: str) -> list[dict[str, object]]:
    return [e.payload.model_dump() for e in stack.events(goal_id) if e.event_type == event_type]


async def test_a_failed_step_undoes_earlier_steps_in_lifo_order(stack: SagaStack) -> None:
    plan = _chain(
        ("database_write", "a"),
        ("database_write", "b"),
        ("database_write", "c"),
        ("always_fails", ""),
        ("database_write", "never"),
    )
    goal_id = await stack.sagas.start("three writes, then a failure", plan)
    result = await stack.sagas.result(goal_id)
    assert result.status == "failed"
    assert result.failed_step == "s4"
    assert result.error is not None
    assert "always fails" in result.error
    assert [(r.step_id, r.status) for r in result.compensations] == [
        ("s3", "executed"),
        ("s2", "executed"),
        ("s1", "executed"),
    ]
    assert stack.rows() == []
    undone = _payloads(stack, goal_id, "CompensationExecuted")
    assert [p["step_id"] for p in undone] == ["s3", "s2", "s1"]
    assert [p["output"] for p in undone] == [{"deleted": 1}] * 3
    failed = _payloads(stack, goal_id, "StepFailed")
    assert [p["step_id"] for p in failed] == ["s4"]
    assert failed[0]["retryable"] is True  # a transient error whose retries ran out
    assert stack.event_types(goal_id)[-1] == "GoalFailed"
    assert result.metrics.attempts == 3 + 3  # three writes, and three tries of the failure
    goal_failed = _payloads(stack, goal_id, "GoalFailed")[0]
    assert goal_failed["compensations"] == [
        "s3:database_delete:executed",
        "s2:database_delete:executed",
        "s1:database_delete:executed",
    ]


async def test_a_failing_compensation_is_recorded_and_the_rest_still_run(
    stack: SagaStack,
) -> None:
    plan = _chain(
        ("database_write", "a"),
        ("write_with_broken_undo", "b"),
        ("database_write", "c"),
        ("rejects_input", ""),
    )
    goal_id = await stack.sagas.start("an undo that breaks", plan)
    result = await stack.sagas.result(goal_id)
    assert result.status == "failed"
    assert [(r.step_id, r.tool, r.status) for r in result.compensations] == [
        ("s3", "database_delete", "executed"),
        ("s2", "broken_undo", "failed"),
        ("s1", "database_delete", "executed"),
    ]
    assert [r["sku"] for r in stack.rows()] == ["b"]  # the one that could not be undone
    failed = _payloads(stack, goal_id, "CompensationFailed")
    assert len(failed) == 1
    assert failed[0]["step_id"] == "s2"
    assert "broken_undo always fails" in str(failed[0]["error"])
    # Three tries (its retry policy), each seen by the stand-in's ledger-free call.
    assert len(_payloads(stack, goal_id, "CompensationExecuted")) == 2


async def test_a_flaky_step_is_retried_until_it_succeeds(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("flaky", _chain(("flaky", "")))
    result = await stack.sagas.result(goal_id)
    assert result.status == "completed"
    assert result.outputs["s1"] == {"note": "ok after 3"}
    assert result.metrics.attempts == 3
    started = _payloads(stack, goal_id, "StepStarted")
    assert len(started) == 3  # one per attempt, each recorded once
    assert len(_payloads(stack, goal_id, "ToolExecuted")) == 1
    executed = [e for e in stack.events(goal_id) if e.event_type == "ToolExecuted"]
    assert executed[0].payload.model_dump()["attempt"] == 3


async def test_a_non_retryable_error_fails_at_once(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("bad input", _chain(("rejects_input", "")))
    result = await stack.sagas.result(goal_id)
    assert result.status == "failed"
    assert result.error == "ToolError: rejects_input always fails"
    assert result.metrics.attempts == 1
    assert len(_payloads(stack, goal_id, "StepStarted")) == 1
    assert [p["retryable"] for p in _payloads(stack, goal_id, "StepFailed")] == [False]
    assert result.compensations == []


async def test_an_invalid_plan_fails_the_goal_before_any_step(stack: SagaStack) -> None:
    plan = Plan(steps=[PlanStep(id="s1", tool="no_such_tool")])
    goal_id = await stack.sagas.start("impossible", plan)
    result = await stack.sagas.result(goal_id)
    assert result.status == "failed"
    assert result.error is not None
    assert "unknown tool 'no_such_tool'" in result.error
    assert stack.event_types(goal_id) == ["GoalReceived", "GoalFailed"]


async def test_a_goal_without_plan_or_planner_fails_clearly(stack: SagaStack) -> None:
    goal_id = await stack.sagas.start("no plan at all")
    result = await stack.sagas.result(goal_id)
    assert result.status == "failed"
    assert result.error == "the goal has no plan and no planner is configured"


async def test_a_bad_reference_at_run_time_fails_the_step(stack: SagaStack) -> None:
    plan = Plan(
        steps=[
            PlanStep(id="s1", tool="flaky"),
            PlanStep(
                id="s2",
                tool="respond_to_user",
                args={"message": {"$ref": "steps.s1.output.note.deeper"}},
                depends_on=["s1"],
            ),
        ]
    )
    goal_id = await stack.sagas.start("bad ref", plan)
    result = await stack.sagas.result(goal_id)
    assert result.status == "failed"
    assert result.failed_step == "s2"
    assert result.error is not None
    assert "no field 'deeper'" in result.error


class _HoldInput(BaseModel):
    room: str
    nights: int = 2  # the plan leaves it out: the undo must still see 2


class _Hold(BaseModel):
    hold_id: str


class _ReleaseInput(BaseModel):
    hold_id: str
    nights: int


def _tools_with_a_defaulted_undo_argument(released: list[dict[str, object]]) -> list[ToolSpec]:
    async def release_room(args: _ReleaseInput, ctx: ToolContext) -> _Hold:
        released.append(args.model_dump())
        return _Hold(hold_id=args.hold_id)

    async def hold_room(args: _HoldInput, ctx: ToolContext) -> _Hold:
        return _Hold(hold_id=f"hold-{args.room}")

    undo = Compensation("release_room", {"hold_id": "output.hold_id", "nights": "input.nights"})
    return [
        tool(name="release_room", side_effect=True)(release_room),
        tool(name="hold_room", side_effect=True, compensation=undo)(hold_room),
    ]


async def test_an_undo_sees_the_arguments_the_step_ran_with_defaults_included(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    released: list[dict[str, object]] = []
    plan = Plan(
        steps=[
            PlanStep(id="s1", tool="hold_room", args={"room": "101"}),
            PlanStep(id="s2", tool="always_fails", args={}, depends_on=["s1"]),
        ]
    )
    extra = _tools_with_a_defaulted_undo_argument(released)
    async with saga_stack(temporal_server, tmp_path, extra) as stack, stack.worker():
        goal_id = await stack.sagas.start("hold a room, then fail", plan)
        result = await stack.sagas.result(goal_id)
    assert result.status == "failed"
    # Before: resolving "input.nights" from the plan's raw arguments failed the step after
    # its effect had happened, so the hold was never released.
    assert [(r.step_id, r.tool, r.status) for r in result.compensations] == [
        ("s1", "release_room", "executed")
    ]
    assert released == [{"hold_id": "hold-101", "nights": 2}]
