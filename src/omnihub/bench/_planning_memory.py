"""``omnihub bench planning-memory``: the saga plan provider's memory over many goals.

A worker plans without end; :class:`SagaPlanProvider` keeps recent outcomes only. The bench
plans ``goals`` goals through the provider (behind a planner that answers at once with a
fixed plan, so only the provider's own memory is measured) and samples the Python heap with
:mod:`tracemalloc` as it goes, with the default bound and, for contrast, unbounded.
"""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime
from typing import Any

from omnihub.planning import (
    PlannerResult,
    PlanningService,
    PlanRequest,
    SagaPlanProvider,
    Usage,
)
from omnihub.planning._saga import MAX_OUTCOMES
from omnihub.plans import Plan
from omnihub.saga import PlanningInput

_PLAN = {
    "steps": [
        {
            "id": "s1",
            "tool": "database_write",
            "args": {"table": "bookings", "values": {"kind": "train", "origin": "Lyon"}},
        },
        {"id": "s2", "tool": "respond_to_user", "args": {"text": "Booked."}, "depends_on": ["s1"]},
    ],
    "reasoning": "book, then answer",
}


class _InstantPlanner:
    """Answers every goal with the same plan, at once (no model, no cache)."""

    source = "playbook"
    model = None

    def __init__(self) -> None:
        self._plan = Plan.model_validate(_PLAN)

    async def plan(self, request: PlanRequest, usage: Any = None) -> PlannerResult:
        return PlannerResult(plan=self._plan, source="playbook", usage=Usage(), latency_ms=0.0)

    async def aclose(self) -> None:
        return None


async def _measure(goals: int, limit: int, samples: int) -> dict[str, Any]:
    provider = SagaPlanProvider(PlanningService(_InstantPlanner()), max_outcomes=limit)
    every = max(1, goals // samples)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    curve: list[dict[str, int]] = []
    now = datetime.now(UTC)
    for i in range(goals):
        await provider.plan(
            PlanningInput(tenant_id="bench", goal_id=f"goal-{i:06d}", goal="g", user_id="u", at=now)
        )
        if (i + 1) % every == 0:
            gc.collect()
            curve.append(
                {"goals": i + 1, "kib": (tracemalloc.get_traced_memory()[0] - base) // 1024}
            )
    tracemalloc.stop()
    return {"max_outcomes": limit, "outcomes_kept": len(provider.outcomes), "heap": curve}


async def run_planning_memory_benchmark(goals: int, *, samples: int = 10) -> dict[str, Any]:
    """Heap growth of the plan provider over ``goals`` goals, bounded and unbounded."""
    bounded = await _measure(goals, MAX_OUTCOMES, samples)
    unbounded = await _measure(goals, goals + 1, samples)
    after_bound = [s["kib"] for s in bounded["heap"] if s["goals"] >= MAX_OUTCOMES]
    return {
        "goals": goals,
        "bounded": bounded,
        "unbounded": unbounded,
        # Flat means: once the bound is reached, the heap stops growing with goals.
        "bounded_growth_after_limit_kib": (
            after_bound[-1] - after_bound[0] if len(after_bound) > 1 else None
        ),
        "unbounded_growth_kib": unbounded["heap"][-1]["kib"] - unbounded["heap"][0]["kib"],
    }
