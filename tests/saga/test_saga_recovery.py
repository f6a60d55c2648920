"""Crash recovery, a restart of the Temporal server, and two workers sharing goals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import BaseModel
from sagakit import SagaStack, connect, saga_stack, slow_write_tool, wait_for

from omnihub.plans import Plan, PlanStep
from omnihub.saga import SagaOptions
from omnihub.servers import EmbeddedTemporal, port_open
from omnihub.tools import ToolContext, ToolRegistry, default_registry, tool

WORKER = Path(__file__).parent / "worker_process.py"


@asynccontextmanager
async def worker_process(stack: SagaStack, address: str, db: Path) -> AsyncIterator[int]:
    """A worker in its own process; yields its pid once it polls."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        address,
        stack.task_queue,
        str(db),
        "2.0",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.strip() == b"ready"
        yield proc.pid
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def _writes(n: int) -> Plan:
    return Plan(
        steps=[
            PlanStep(
                id=f"s{i}",
                tool="slow_write",
                args={"table": "orders", "values": {"sku": f"sku{i}", "qty": i}},
                depends_on=[f"s{i - 1}"] if i > 1 else [],
            )
            for i in range(1, n + 1)
        ]
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_killed_worker_leaves_no_duplicate_effect_or_event(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    db = tmp_path / "events.db"
    async with saga_stack(temporal_server, tmp_path, [slow_write_tool(2.0)]) as stack:
        async with worker_process(stack, temporal_server.address, db) as first:
            goal_id = await stack.sagas.start("survive a crash", _writes(3))
            # s2 has written its row and ledger entry and is now sleeping: kill it there.
            prefix = f"default/{goal_id}/"
            await wait_for(lambda: stack.resources.ledger.count(prefix + "s2/") == 1, 60)
            os.kill(first, signal.SIGKILL)
        async with worker_process(stack, temporal_server.address, db):
            ready = time.monotonic()
            result = await asyncio.wait_for(stack.sagas.result(goal_id), 90)
        assert result.status == "completed"
        # Every side effect exactly once: target table and ledger.
        assert Counter(r["sku"] for r in stack.rows()) == {"sku1": 1, "sku2": 1, "sku3": 1}
        assert stack.resources.ledger.count(prefix) == 3
        # Every event exactly once; s2 was started twice (two attempts), recorded once each.
        events = stack.events(goal_id)
        keyed = Counter(e.idempotency_key for e in events)
        assert all(n == 1 for n in keyed.values())
        types = Counter(e.event_type for e in events)
        assert types["ToolExecuted"] == types["StepCompleted"] == 3
        assert types["GoalCompleted"] == 1
        s2_started = [
            e
            for e in events
            if e.event_type == "StepStarted" and e.payload.model_dump()["step_id"] == "s2"
        ]
        assert len(s2_started) == 2
        assert result.outputs["s2"]["record_id"] == stack.rows()[1]["id"]
        # The retried step began within the heartbeat timeout of the new worker starting.
        retried_at = s2_started[1].recorded_at.timestamp()
        assert retried_at - (time.time() - (time.monotonic() - ready)) < 5.0


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_goal_survives_a_restart_of_the_temporal_server(tmp_path: Path) -> None:
    with EmbeddedTemporal(tmp_path / "own-temporal") as server:
        async with saga_stack(server, tmp_path) as stack, stack.worker():
            plan = Plan(
                steps=[
                    PlanStep(id="a", tool="sleep", args={"seconds": 1}),
                    PlanStep(id="b", tool="sleep", args={"seconds": 1}, depends_on=["a"]),
                    PlanStep(
                        id="c",
                        tool="database_write",
                        args={"table": "orders", "values": {"sku": "after", "qty": 1}},
                        depends_on=["b"],
                    ),
                ]
            )
            goal_id = await stack.sagas.start("outlive the server", plan)
            await wait_for(lambda: "StepCompleted" in stack.event_types(goal_id), 30)
            await asyncio.to_thread(server.restart)
            result = await asyncio.wait_for(stack.sagas.result(goal_id), 120)
            assert result.status == "completed"
            assert [r["sku"] for r in stack.rows()] == ["after"]
            assert stack.event_types(goal_id).count("StepCompleted") == 3


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_goal_completes_once_after_the_temporal_server_is_killed(tmp_path: Path) -> None:
    """A crash, not a graceful stop: SIGKILL of the server process mid-goal, between two side
    effects, then a new process on the same port and database file."""
    with EmbeddedTemporal(tmp_path / "own-temporal") as server:
        async with saga_stack(server, tmp_path) as stack, stack.worker():
            plan = Plan(
                steps=[
                    PlanStep(
                        id="a",
                        tool="database_write",
                        args={"table": "orders", "values": {"sku": "before", "qty": 1}},
                    ),
                    PlanStep(id="b", tool="sleep", args={"seconds": 2}, depends_on=["a"]),
                    PlanStep(
                        id="c",
                        tool="database_write",
                        args={"table": "orders", "values": {"sku": "after", "qty": 1}},
                        depends_on=["b"],
                    ),
                ]
            )
            goal_id = await stack.sagas.start("outlive a crash of the server", plan)
            await wait_for(lambda: "StepCompleted" in stack.event_types(goal_id), 30)
            crashed = server.pid
            assert crashed is not None
            os.kill(crashed, signal.SIGKILL)
            host, _, port = server.address.rpartition(":")
            await wait_for(lambda: not port_open(host, int(port)), 10)
            server.stop()  # only reaps the dead process: it sends nothing to an exited one
            await asyncio.to_thread(server.start)
            assert server.pid is not None
            assert server.pid != crashed
            with pytest.raises(ProcessLookupError):
                os.kill(crashed, 0)  # the crashed process is gone (and reaped), not paused
            result = await asyncio.wait_for(stack.sagas.result(goal_id), 120)
            assert result.status == "completed"
            assert Counter(r["sku"] for r in stack.rows()) == {"before": 1, "after": 1}
            assert stack.resources.ledger.count(f"default/{goal_id}/") == 2
            events = stack.events(goal_id)
            assert all(n == 1 for n in Counter(e.idempotency_key for e in events).values())
            types = Counter(e.event_type for e in events)
            assert (types["StepCompleted"], types["GoalCompleted"]) == (3, 1)


class Who(BaseModel):
    worker: str


class Nothing(BaseModel):
    pass


def _registry(name: str) -> ToolRegistry:
    @tool(name="whoami", description="Which worker ran this step.")
    async def whoami(args: Nothing, ctx: ToolContext) -> Who:
        await asyncio.sleep(0.05)
        return Who(worker=name)

    return default_registry([whoami])


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_two_workers_share_the_work_of_many_goals(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    options = SagaOptions(max_parallel_steps=2)
    second_client = await connect(temporal_server.address)
    async with (
        saga_stack(temporal_server, tmp_path, options=options) as stack,
        stack.worker(_registry("one")),
        stack.worker(_registry("two"), second_client),
    ):
        plan = Plan(steps=[PlanStep(id=f"s{i}", tool="whoami") for i in range(3)])
        goal_ids = await asyncio.gather(*(stack.sagas.start(f"g{i}", plan) for i in range(30)))
        results = await asyncio.gather(*(stack.sagas.result(g) for g in goal_ids))
    assert all(r.status == "completed" for r in results)
    ran_on = Counter(out["worker"] for r in results for out in r.outputs.values())
    assert set(ran_on) == {"one", "two"}
    assert sum(ran_on.values()) == 90
