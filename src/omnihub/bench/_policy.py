"""``omnihub bench policy``: what the guard adds to one step, as the saga calls it.

Each evaluation is :meth:`Guard.check_step` for the second step of a three-step plan (a table
read whose rows go out by e-mail, then a reply): the provenance trace through ``$ref``, the
Cedar context and the decision against the shipped defaults. Wall-clock time includes the
scheduler's delays on a busy machine; the thread's CPU time is what the guard itself costs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from omnihub.guard import Guard, PlanOrigin, Principal
from omnihub.plans import Plan, PlanStep


def _percentiles(timings: list[float], prefix: str) -> dict[str, float]:
    timings = sorted(timings)
    return {
        f"{prefix}p50_ms": round(statistics.median(timings), 4),
        f"{prefix}p99_ms": round(timings[max(int(len(timings) * 0.99) - 1, 0)], 4),
        f"{prefix}max_ms": round(timings[-1], 4),
    }


def run_policy_benchmark(evaluations: int = 2000, warmup: int = 200) -> dict[str, Any]:
    """Time ``evaluations`` step checks (after ``warmup`` untimed ones)."""
    from omnihub.redteam import redteam_registry

    guard = Guard(redteam_registry())
    principal = Principal(id="bench", tenant="bench")
    plan = Plan(
        steps=[
            PlanStep(id="q1", tool="database_query", args={"table": "customers"}),
            PlanStep(
                id="s1",
                tool="send_email",
                args={
                    "to": ["alice@example.com"],
                    "subject": "Agenda",
                    "body": {"$ref": "steps.q1.output.rows"},
                },
                depends_on=["q1"],
            ),
            PlanStep(id="r1", tool="respond_to_user", args={"message": "sent"}, depends_on=["s1"]),
        ]
    )
    origin = PlanOrigin(goal="Email alice@example.com the customer list")
    resolved = {"to": ["alice@example.com"], "subject": "Agenda", "body": "c-1, c-2"}
    wall: list[float] = []
    cpu: list[float] = []
    outcome = ""
    for n in range(warmup + evaluations):
        began, began_cpu = time.perf_counter(), time.thread_time()
        outcome = guard.check_step(principal, plan, origin, "s1", resolved).decision.outcome
        if n >= warmup:
            cpu.append((time.thread_time() - began_cpu) * 1000)
            wall.append((time.perf_counter() - began) * 1000)
    return {
        "evaluations": evaluations,
        "outcome": outcome,
        **_percentiles(wall, ""),
        **_percentiles(cpu, "cpu_"),
        "policies": len(guard.engine_for("bench").policies.annotations),
    }
