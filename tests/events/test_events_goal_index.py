"""The goal index: kept by every append on both backends, in step with the full projection."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from omnihub.events import (
    ApprovalRequested,
    EventStore,
    GoalCompleted,
    GoalFailed,
    GoalReceived,
    NewEvent,
    PlanGenerated,
    StepStarted,
    open_event_store,
    project_goal,
)


def _received(text: str) -> NewEvent:
    return NewEvent(payload=GoalReceived(goal=text, user_id="u"), idempotency_key="received")


def test_every_append_updates_the_goal_row_like_the_projection(store: EventStore) -> None:
    store.append("acme", "g1", [_received("first")])
    store.append(
        "acme", "g1", [NewEvent(payload=PlanGenerated(plan_id="p", steps=[], source="cache"))]
    )
    store.append("acme", "g1", [NewEvent(payload=StepStarted(step_id="a", tool_name="t"))])
    store.append("acme", "g1", [NewEvent(payload=GoalFailed(error="card declined"))])
    [entry] = store.list_goals("acme")
    state = project_goal(store.read_stream("acme", "g1"))
    dumped = state.model_dump(mode="json")
    assert entry.summary.model_dump(mode="json") == {
        key: dumped[key] for key in entry.summary.model_dump(mode="json")
    }
    assert entry.summary.status == "failed"
    assert entry.summary.error == "card declined"
    assert entry.summary.plan_source == "cache"
    assert entry.summary.event_count == 4


def test_a_retried_append_does_not_count_twice(store: EventStore) -> None:
    store.append("acme", "g1", [_received("first")])
    store.append("acme", "g1", [_received("first")])
    [entry] = store.list_goals("acme")
    assert entry.summary.event_count == 1


def test_goals_list_newest_first_with_status_filter_and_pages(store: EventStore) -> None:
    for n in range(5):
        store.append("acme", f"g{n}", [_received(f"goal {n}")])
    store.append("acme", "g1", [NewEvent(payload=GoalCompleted(result={"ok": True}))])
    store.append(
        "acme",
        "g3",
        [NewEvent(payload=ApprovalRequested(step_id="s", tool_name="t", risk_lane="red"))],
    )
    store.append("other", "g9", [_received("not yours")])

    listed = store.list_goals("acme")
    assert [e.summary.goal_id for e in listed] == ["g4", "g3", "g2", "g1", "g0"]
    first = store.list_goals("acme", limit=2)
    rest = store.list_goals("acme", limit=10, before=first[-1].position)
    assert [e.summary.goal_id for e in first + rest] == ["g4", "g3", "g2", "g1", "g0"]
    assert [e.summary.goal_id for e in store.list_goals("acme", status="completed")] == ["g1"]
    assert [e.summary.status for e in store.list_goals("acme", status="awaiting_approval")] == [
        "awaiting_approval"
    ]
    assert [e.summary.goal_id for e in store.list_goals("other")] == ["g9"]


def test_concurrent_appends_keep_the_count_exact(store: EventStore) -> None:
    store.append("acme", "g", [_received("busy")])

    def write() -> None:
        for _ in range(10):
            store.append("acme", "g", [NewEvent(payload=StepStarted(step_id="s", tool_name="t"))])

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [entry] = store.list_goals("acme")
    assert entry.summary.event_count == 41 == store.stream_version("acme", "g")


def test_a_file_written_before_the_index_is_indexed_when_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_event_store(url) as store:
        store.append("acme", "old", [_received("from an older version")])
    with sqlite3.connect(tmp_path / "events.db") as conn:
        conn.execute("DELETE FROM omnihub_goals")
    with open_event_store(url) as store:
        [entry] = store.list_goals("acme")
    assert entry.summary.goal == "from an older version"
    assert entry.summary.status == "received"
