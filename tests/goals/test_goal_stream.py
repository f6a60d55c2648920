"""GoalService.stream on real stores: a stream of an ended goal ends, and live streams on
PostgreSQL follow the store's LISTEN/NOTIFY instead of polling."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnihub.events import (
    EventStore,
    GoalCompleted,
    GoalReceived,
    NewEvent,
    PlanGenerated,
    StepStarted,
    open_event_store,
)
from omnihub.goals import GoalService, SagaGoalBackend
from omnihub.plans import PlanStep

TENANT = "acme"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    opened = open_event_store(store_url)
    yield opened
    opened.close()


def _started(goal_id: str) -> list[NewEvent]:
    steps = [PlanStep(id="s1", tool="respond_to_user", args={"message": "hi"})]
    return [
        NewEvent(payload=GoalReceived(goal=f"say hi {goal_id}", user_id="u")),
        NewEvent(payload=PlanGenerated(plan_id="p", steps=steps, source="client")),
    ]


def _finished() -> list[NewEvent]:
    return [
        NewEvent(payload=StepStarted(step_id="s1", tool_name="respond_to_user")),
        NewEvent(payload=GoalCompleted(result="hi")),
    ]


async def _versions(service: GoalService, goal_id: str, after: int) -> list[tuple[int, str]]:
    stream = await service.stream(TENANT, goal_id, after_version=after)
    return [(item.version, item.type) async for item in stream]


async def test_a_stream_opened_after_the_final_event_sends_what_is_left_and_ends(
    store: EventStore,
) -> None:
    goal_id = f"g-{uuid.uuid4().hex[:8]}"
    store.append(TENANT, goal_id, [*_started(goal_id), *_finished()])
    service = GoalService(SagaGoalBackend(store, None, poll_interval=60, wait_s=60))
    async with asyncio.timeout(10):  # before the fix: waits for ever
        assert await _versions(service, goal_id, after=4) == []
        assert await _versions(service, goal_id, after=3) == [(4, "GoalCompleted")]
        assert [v for v, _ in await _versions(service, goal_id, after=0)] == [1, 2, 3, 4]


async def test_a_live_stream_follows_events_appended_by_another_store_object(
    store: EventStore, store_url: str
) -> None:
    goal_id = f"g-{uuid.uuid4().hex[:8]}"
    store.append(TENANT, goal_id, _started(goal_id))
    postgres = store_url.startswith("postgres")
    # On PostgreSQL the notification must wake the stream: the poll interval and the
    # notification wait are far longer than the test may take, so polling cannot deliver.
    backend = SagaGoalBackend(
        store, None, poll_interval=60 if postgres else 0.05, wait_s=60 if postgres else 0.05
    )
    assert backend.notified is postgres
    service = GoalService(backend)
    following = asyncio.create_task(_versions(service, goal_id, after=1))
    await asyncio.sleep(0.5)  # the stream is open and waiting
    assert not following.done()
    writer = open_event_store(store_url)  # another connection, as a worker elsewhere has
    try:
        other = f"g-{uuid.uuid4().hex[:8]}"
        await asyncio.to_thread(writer.append, TENANT, other, _started(other))
        await asyncio.to_thread(writer.append, TENANT, goal_id, _finished(), expected_version=2)
    finally:
        writer.close()
    async with asyncio.timeout(10):
        seen = await following
    assert seen == [(2, "PlanGenerated"), (3, "StepStarted"), (4, "GoalCompleted")]
