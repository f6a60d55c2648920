"""The saga's record passes the auditor: ``omnihub audit check``, run as the real executable
on the store a goal wrote, finds every invariant held."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from sagakit import saga_stack

from omnihub.plans import Plan, PlanStep
from omnihub.saga import SagaOptions
from omnihub.servers import EmbeddedTemporal

WIDTH = 16


def _audit_check(url: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnihub", "audit", "check", "--store-url", url, "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={"OMNIHUB_HOME": str(home), "PATH": "/usr/bin", "PYTHONPATH": ":".join(sys.path)},
        timeout=120,
    )


async def test_a_goal_whose_parallel_steps_were_compensated_passes_audit_check(
    temporal_server: EmbeddedTemporal, tmp_path: Path, omnihub_home: Path
) -> None:
    # Sixteen writes at once, eight at a time: their results reach the workflow in whatever
    # order Temporal delivers them, which need not be the order the store recorded them in.
    writes = [
        PlanStep(
            id=f"w{n:02d}",
            tool="database_write",
            args={"table": "orders", "values": {"sku": f"sku{n:02d}", "qty": n}},
        )
        for n in range(WIDTH)
    ]
    fail = PlanStep(id="boom", tool="always_fails", depends_on=[s.id for s in writes])
    url = f"sqlite:///{tmp_path / 'events.db'}"
    options = SagaOptions(max_parallel_steps=8, approval_timeout_s=60)
    async with saga_stack(temporal_server, tmp_path, options=options) as stack, stack.worker():
        goal_id = await stack.sagas.start("wide, then a failure", Plan(steps=[*writes, fail]))
        result = await stack.sagas.result(goal_id)
        assert result.status == "failed"
        events = stack.events(goal_id)
        completed = [
            e.payload.model_dump()["step_id"] for e in events if e.event_type == "StepCompleted"
        ]
        undone = [
            e.payload.model_dump()["step_id"]
            for e in events
            if e.event_type == "CompensationExecuted"
        ]
        assert sorted(completed) == [s.id for s in writes]
        assert undone == completed[::-1]
        assert stack.rows() == []
    proc = await asyncio.to_thread(_audit_check, url, omnihub_home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert report["goals"] == 1
