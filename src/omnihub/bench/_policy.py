"""``omnihub bench policy``: the latency of one policy evaluation (context built + decided)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from omnihub.guard import (
    PlanOrigin,
    PolicyEngine,
    Principal,
    ProvenanceTracer,
    ToolFacts,
    call_context,
)
from omnihub.plans import PlanStep


def run_policy_benchmark(evaluations: int = 2000) -> dict[str, Any]:
    """Time ``evaluations`` step checks (provenance trace, context, Cedar decision)."""
    engine = PolicyEngine()
    principal = Principal(id="bench", tenant="bench")
    facts = ToolFacts("send_email", "yellow", True)
    origin = PlanOrigin(goal="Email alice@example.com the agenda")
    step = PlanStep(
        id="s1",
        tool="send_email",
        args={"to": ["alice@example.com"], "subject": "Agenda", "body": "Monday"},
    )
    timings: list[float] = []
    outcome = ""
    for _ in range(evaluations):
        began = time.perf_counter()
        traced = ProvenanceTracer(origin, side_effect_tools=["send_email"]).trace(step)
        context = call_context(
            facts, step.args, tenant="bench", phase="step", provenance=traced, known_tools=()
        )
        outcome = engine.evaluate_call(principal, facts, context).outcome
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "evaluations": evaluations,
        "outcome": outcome,
        "p50_ms": round(statistics.median(timings), 4),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 4),
        "max_ms": round(timings[-1], 4),
        "policies": len(engine.policies.annotations),
    }
