"""``omnihub bench planning``: the cache-first planning flow against the planner alone.

Both run the same goals (demo-domain requests with varied values) in the same process: the
baseline asks the offline playbook planner for every goal; the flow asks the plan cache first
(in-process HNSW index in a temporary directory) and the planner only on a miss.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omnihub.cache import PlanCache, open_index
from omnihub.embeddings import Embedder, open_embedder
from omnihub.planning import (
    CachePlanStore,
    Planner,
    PlanningService,
    PlanRequest,
    PlaybookPlanner,
    SQLiteUsageLedger,
    default_playbooks,
    planner_cache_version,
)
from omnihub.tools import ToolRegistry, default_registry

_CITIES = ["Lyon", "Nice", "Turin", "Bern", "Madrid", "Seville", "Vienna", "Prague", "Oslo"]
_EMAILS = ["ana@example.com", "li@acme.io", "omar@initech.org", "kim@umbrella.co"]
_TEMPLATES = [
    "Book a train from {a} to {b} on {day} March",
    "Pay {n} EUR to {email}",
    "Cancel booking BK-{n}",
    "Create an account for {email}",
    "Book a hotel in {a} from {day} May to {day2} May",
    "Refund ${n}.50 to {email}",
]


def planning_goals(count: int) -> list[str]:
    """``count`` goals cycling through the demo intents with varied values."""
    goals = []
    values = itertools.count()
    for template in itertools.islice(itertools.cycle(_TEMPLATES), count):
        i = next(values)
        goals.append(
            template.format(
                a=_CITIES[i % len(_CITIES)],
                b=_CITIES[(i + 3) % len(_CITIES)],
                day=1 + i % 20,
                day2=3 + i % 20,
                n=10 + i,
                email=_EMAILS[i % len(_EMAILS)],
            )
        )
    return goals


def cached_planning(
    planner: Planner, registry: ToolRegistry, embedder: Embedder, folder: Path
) -> PlanningService:
    """The cache-first flow around ``planner``: an in-process plan cache and a usage ledger
    (so hits record what they saved), both in ``folder``."""
    cache = PlanCache(
        open_index("memory", path=str(folder / "cache.db")),
        embedder,
        version=planner_cache_version(planner, registry),
    )
    ledger = SQLiteUsageLedger(folder / "ledger.db")
    return PlanningService(planner, ledger=ledger, cache=CachePlanStore(cache, registry, ledger))


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)

    return {"p50": at(0.5), "p99": at(0.99)}


async def run_planning_benchmark(goals: int) -> dict[str, Any]:
    """Plan ``goals`` goals with and without the cache; one JSON-ready result."""
    registry = default_registry()
    embedder = open_embedder("onnx")
    planner = PlaybookPlanner(default_playbooks(), registry, embedder)
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    requests = [PlanRequest(goal, tenant="bench", now=now) for goal in planning_goals(goals)]

    baseline: list[float] = []
    expected = []
    for request in requests:
        started = time.perf_counter()
        expected.append((await planner.plan(request)).plan.steps)
        baseline.append((time.perf_counter() - started) * 1000)

    with tempfile.TemporaryDirectory() as folder:
        service = cached_planning(planner, registry, embedder, Path(folder))
        flow: list[float] = []
        hits = false_hits = 0
        for request, steps in zip(requests, expected, strict=True):
            started = time.perf_counter()
            outcome = await service.plan_goal(request)
            flow.append((time.perf_counter() - started) * 1000)
            if outcome.source == "cache":
                hits += 1
                false_hits += outcome.plan.steps != steps
        await service.aclose()
    flow_p50 = _percentiles(flow)["p50"]
    base_p50 = _percentiles(baseline)["p50"]
    return {
        "goals": goals,
        "planner": "playbook",
        "latency_ms": _percentiles(flow),
        "hits": hits,
        "misses": goals - hits,
        "hit_rate": round(hits / goals, 4),
        "false_hits": false_hits,
        "baseline": {"planner": "playbook, no cache", "latency_ms": _percentiles(baseline)},
        "p50_ratio": round(flow_p50 / base_p50, 3) if base_p50 else None,
    }
