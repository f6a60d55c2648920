"""Replay determinism: every committed workflow history replays without a nondeterminism
error against today's AgentSaga, and so do histories made fresh by this run.

Set RECORD_SAGA_HISTORIES=1 to (re)write the committed histories from a fresh run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sagakit import SagaStack, awaiting_approval, saga_stack, wait_for
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from omnihub.plans import Plan, PlanStep
from omnihub.saga import AgentSaga, ApprovalDecision, ControlRequest, SagaOptions, workflow_runner
from omnihub.servers import EmbeddedTemporal

HISTORIES = Path(__file__).parent / "histories"


def _write(step_id: str, *deps: str, tool: str = "database_write") -> PlanStep:
    return PlanStep(
        id=step_id,
        tool=tool,
        args={"table": "orders", "values": {"sku": step_id, "qty": 1}},
        depends_on=list(deps),
    )


async def _make_histories(stack: SagaStack) -> dict[str, WorkflowHistory]:
    sagas = stack.sagas
    goals: dict[str, str] = {}
    goals["completed"] = await sagas.start(
        "happy",
        Plan(
            steps=[
                _write("a"),
                _write("b"),
                PlanStep(
                    id="c",
                    tool="respond_to_user",
                    args={"message": {"$ref": "steps.a.output.record_id"}},
                    depends_on=["a", "b"],
                ),
            ]
        ),
    )
    goals["compensated"] = await sagas.start(
        "undo",
        Plan(
            steps=[
                _write("a"),
                _write("b", "a", tool="write_with_broken_undo"),
                PlanStep(id="c", tool="flaky", depends_on=["b"]),
                PlanStep(id="d", tool="always_fails", depends_on=["c"]),
            ]
        ),
    )
    goals["approved"] = await sagas.start(
        "approval", Plan(steps=[_write("a"), _write("b", "a", tool="guarded_write")])
    )
    goals["cancelled"] = await sagas.start(
        "cancel",
        Plan(
            steps=[
                _write("a"),
                PlanStep(id="b", tool="sleep", args={"seconds": 1}, depends_on=["a"]),
            ]
        ),
    )
    long_options = SagaOptions(continue_as_new_after_steps=2, approval_timeout_s=60)
    goals["continued"] = await sagas.start(
        "continue", Plan(steps=[_write(f"s{n}") for n in range(5)]), options=long_options
    )

    await awaiting_approval(sagas, goals["approved"])
    await sagas.pause(goals["approved"], ControlRequest(by="ann"))
    await sagas.resume(goals["approved"], ControlRequest(by="ann"))
    await sagas.decide(
        goals["approved"], ApprovalDecision(step_id="b", approved=True, decided_by="ann")
    )
    await wait_for(lambda: "StepStarted" in stack.event_types(goals["cancelled"])[-1:])
    await sagas.cancel(goals["cancelled"], ControlRequest(by="ann", reason="stop"))
    histories = {}
    for name, goal_id in goals.items():
        await sagas.result(goal_id)
        histories[name] = await sagas.handle(goal_id).fetch_history()
    return histories


def _replayer() -> Replayer:
    return Replayer(
        workflows=[AgentSaga],
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )


@pytest.mark.timeout(180)
async def test_fresh_and_committed_histories_replay_deterministically(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    async with saga_stack(temporal_server, tmp_path) as stack, stack.worker():
        fresh = await _make_histories(stack)
    if os.environ.get("RECORD_SAGA_HISTORIES"):
        for name, history in fresh.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json())
    committed = {
        path.stem: WorkflowHistory.from_json(path.stem, path.read_text())
        for path in sorted(HISTORIES.glob("*.json"))
    }
    assert set(committed) == set(fresh)
    replayer = _replayer()
    for history in [*fresh.values(), *committed.values()]:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, history.workflow_id
