"""Learning from goals: a cached plan whose goal failed because of it is demoted, then evicted;
the flow keeps the event loop free; the saga provider's memory of outcomes is bounded."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from omnihub.cache import MemoryPlanIndex, PlanCache
from omnihub.embeddings import Embedder, open_embedder
from omnihub.events import PLAN_CACHE_STREAM, CachedPlanEvicted, open_event_store
from omnihub.planning import (
    CachedPlan,
    CachePlanStore,
    PlanFeedback,
    PlanningService,
    PlanRequest,
    PlaybookPlanner,
    RecentOutcomes,
    default_playbooks,
    planner_cache_version,
)
from omnihub.planning._feedback import CAUSE_ARGUMENTS, CAUSE_COMPENSATION
from omnihub.planning._planner import PlannerResult
from omnihub.saga import SagaActivities
from omnihub.saga._models import EventSpec, RecordEventsInput
from omnihub.tools import IdempotencyLedger, ToolResources, default_registry, open_database

AT = datetime(2026, 11, 27, 9, tzinfo=UTC)
TRAIN = "Book a train from Lyon to Nice on 3 March 2027"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return open_embedder("onnx")


def _events(goal_id: str, entry_id: str, failure: str) -> list[EventSpec]:
    steps = [{"id": "s1", "tool": "database_write", "args": {}, "depends_on": []}]
    specs = [
        EventSpec(
            event_type="GoalReceived",
            payload={"goal": TRAIN, "user_id": "u"},
            key_parts=["GoalReceived"],
        ),
        EventSpec(
            event_type="PlanGenerated",
            payload={
                "plan_id": f"{goal_id}/plan",
                "steps": steps,
                "source": "cache",
                "cache": {"entry_id": entry_id, "similarity": 0.97},
            },
            key_parts=["PlanGenerated"],
        ),
    ]
    # What happened after the plan: a tool rejecting its arguments, a compensation, a timeout.
    after = {
        "arguments": (
            "StepFailed",
            {"error": "ToolError: database_write: invalid arguments: 'date' is not a date"},
        ),
        "compensation": ("CompensationExecuted", {"tool_name": "database_delete"}),
        "timeout": ("StepFailed", {"error": "activity StartToClose timeout"}),
    }
    kind, payload = after[failure]
    specs.append(
        EventSpec(event_type=kind, payload={"step_id": "s1", **payload}, key_parts=["s1", kind])
    )
    return specs


async def test_a_cached_plan_that_fails_its_goals_is_demoted_then_evicted(
    tmp_path: Path, embedder: Embedder
) -> None:
    registry = default_registry()
    planner = PlaybookPlanner(default_playbooks(), registry, embedder)
    cache = PlanCache(
        MemoryPlanIndex(),
        embedder,
        version=planner_cache_version(planner, registry),
        max_plan_failures=2,
    )
    plans = CachePlanStore(cache, registry)
    service = PlanningService(planner, cache=plans)
    first = await service.plan_goal(PlanRequest(TRAIN, tenant="acme", now=AT))
    assert first.source == "playbook"
    hit = await service.plan_goal(
        PlanRequest(TRAIN.replace("Lyon", "Turin"), tenant="acme", now=AT)
    )
    assert hit.source == "cache"
    assert hit.cache is not None
    entry_id = hit.cache["entry_id"]

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_event_store(url)
    database = open_database(url)
    resources = ToolResources(ledger=IdempotencyLedger(database), database=database)
    feedback = PlanFeedback(store, plans)
    activities = SagaActivities(registry, resources, store, on_goal_failed=feedback.goal_failed)

    async def fail(goal_id: str, failure: str) -> None:
        specs = _events(goal_id, entry_id, failure)
        await activities.record_events(
            RecordEventsInput(tenant_id="acme", goal_id=goal_id, at=AT, events=specs)
        )
        final = EventSpec(
            event_type="GoalFailed", payload={"error": failure}, key_parts=["GoalFailed"]
        )
        await activities.record_events(
            RecordEventsInput(tenant_id="acme", goal_id=goal_id, at=AT, events=[final])
        )

    # A failure of the world (a timeout) is not the plan's: nothing is counted.
    await fail("g-timeout", "timeout")
    assert cache.metrics.plan_failures == 0
    # A tool rejecting the plan's arguments demotes; the entry still serves.
    await fail("g-args", "arguments")
    assert cache.metrics.plan_failures == 1
    assert cache.index.count("acme") == 1
    # A retried record of the same failure is not a second failure.
    await feedback.goal_failed("acme", "g-args")
    assert cache.metrics.plan_failures == 1
    # A compensated goal is the second failure: the entry is evicted.
    await fail("g-comp", "compensation")
    assert cache.metrics.plan_failures == 2
    assert cache.metrics.evictions["plan_failures"] == 1
    assert cache.index.count("acme") == 0
    # The eviction is an event of the tenant's plan-cache stream, saying why.
    recorded = [e.payload for e in store.read_stream("acme", PLAN_CACHE_STREAM)]
    assert recorded == [
        CachedPlanEvicted(
            entry_id=entry_id,
            reason="plan_failures",
            cause=CAUSE_COMPENSATION,
            failures=2,
            goal_id="g-comp",
        )
    ]
    again = await service.plan_goal(
        PlanRequest(TRAIN.replace("Lyon", "Bern"), tenant="acme", now=AT)
    )
    assert again.source == "playbook"
    await service.aclose()
    resources.close()
    store.close()


def test_plan_failure_names_the_entry_and_the_cause(tmp_path: Path) -> None:
    from omnihub.planning import plan_failure

    class Envelope:
        def __init__(self, event_type: str, payload: Any) -> None:
            self.event_type, self.payload = event_type, payload

    from omnihub.events import default_registry as events

    def envelopes(specs: list[EventSpec]) -> list[Envelope]:
        return [
            Envelope(s.event_type, events.model_for(s.event_type).model_validate(s.payload))
            for s in specs
        ]

    failed = EventSpec(event_type="GoalFailed", payload={"error": "x"}, key_parts=["f"])
    assert plan_failure(envelopes([*_events("g", "e1", "arguments"), failed])) == (
        "e1",
        CAUSE_ARGUMENTS,
    )
    assert plan_failure(envelopes([*_events("g", "e1", "compensation"), failed])) == (
        "e1",
        CAUSE_COMPENSATION,
    )
    assert plan_failure(envelopes([*_events("g", "e1", "timeout"), failed])) is None
    # Not failed (yet): nothing to learn.
    assert plan_failure(envelopes(_events("g", "e1", "arguments"))) is None


class _SlowStore:
    """A plan store whose lookup blocks its thread like a slow embedding or Redis call."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def lookup(self, request: PlanRequest) -> CachedPlan | None:
        time.sleep(self.seconds)
        return None

    def store(self, request: PlanRequest, result: PlannerResult) -> None:
        time.sleep(self.seconds)

    def demote(self, tenant: str, entry_id: str, cause: str) -> None:
        return None

    def close(self) -> None:
        return None


async def test_a_slow_cache_lookup_does_not_stall_the_event_loop(embedder: Embedder) -> None:
    """Another coroutine (a heartbeat loop, say) keeps ticking while the lookup runs."""
    registry = default_registry()
    planner = PlaybookPlanner(default_playbooks(), registry, embedder)
    service = PlanningService(planner, cache=_SlowStore(0.3))
    ticks = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    outcome = await service.plan_goal(PlanRequest(TRAIN, tenant="acme", now=AT))
    stop.set()
    await beating
    assert outcome.source == "playbook"
    # 0.6 s of blocking calls (lookup + store) at one tick per 10 ms: a blocked loop ticks ~0.
    assert ticks >= 20
    await service.aclose()


def test_recent_outcomes_keep_only_the_latest_goals() -> None:
    outcomes: RecentOutcomes = RecentOutcomes(limit=3)
    for i in range(10):
        outcomes[f"g{i}"] = i  # type: ignore[assignment]
    assert list(outcomes) == ["g7", "g8", "g9"]
    outcomes["g7"] = 70  # type: ignore[assignment]
    outcomes["g10"] = 10  # type: ignore[assignment]
    assert list(outcomes) == ["g9", "g7", "g10"]
    with pytest.raises(ValueError, match="at least 1"):
        RecentOutcomes(limit=0)
