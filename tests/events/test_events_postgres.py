"""PostgreSQL specifics: gap-free global order for tailing readers under concurrent writers."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from omnihub.errors import ConfigurationError, StoreUnavailableError
from omnihub.events import (
    GENESIS_HASH,
    EventEnvelope,
    GoalReceived,
    NewEvent,
    PlanGenerated,
    StepStarted,
    open_event_store,
    project_goal,
    verify_store,
)
from omnihub.events._postgres import CHANNEL, PostgresEventStore


def burst(writer: int, n: int) -> list[NewEvent]:
    return [
        NewEvent(payload=StepStarted(step_id=f"w{writer}-{n}-{k}", tool_name="t")) for k in range(4)
    ]


def test_reader_never_sees_past_an_in_flight_transaction(postgres_url: str) -> None:
    with open_event_store(postgres_url) as store, psycopg.connect(postgres_url) as blocker:
        blocker.execute("SELECT pg_current_xact_id()")  # a writer that has not committed yet
        store.append("acme", "g", [NewEvent(payload=GoalReceived(goal="x", user_id="u"))])
        # The event committed, but an older transaction could still commit below it.
        assert store.read_all("acme") == []
        assert store.stream_version("acme", "g") == 1
        blocker.rollback()
        assert len(store.read_all("acme")) == 1


@pytest.mark.slow
def test_eight_writers_and_a_tailing_reader_see_every_event_once_in_order(
    postgres_url: str,
) -> None:
    writers, appends = 8, 40
    expected = writers * appends * 4
    seen: list[EventEnvelope] = []
    failures: list[BaseException] = []
    with open_event_store(postgres_url) as store:

        def write(writer: int) -> None:
            try:
                for n in range(appends):
                    # Half the writers share one hot stream, so conflicts are retried too.
                    stream = "shared" if writer % 2 else f"goal-{writer}"
                    store.append("acme", stream, burst(writer, n))
            except BaseException as exc:  # pragma: no cover - reported by the assert below
                failures.append(exc)

        def tail() -> None:
            position = 0
            deadline = time.monotonic() + 60
            while len(seen) < expected and time.monotonic() < deadline:
                batch = store.read_all("acme", position, limit=7)
                seen.extend(batch)
                if batch:
                    position = batch[-1].global_position
                else:
                    time.sleep(0.002)

        reader = threading.Thread(target=tail)
        reader.start()
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        reader.join()
        assert failures == []
        everything = store.read_all("acme", limit=expected + 10)
    positions = [e.global_position for e in seen]
    assert len(seen) == expected
    assert positions == sorted(set(positions))
    assert [e.event_id for e in seen] == [e.event_id for e in everything]
    shared = [e.stream_version for e in everything if e.stream_id == "shared"]
    assert sorted(shared) == list(range(1, writers // 2 * appends * 4 + 1))


def test_a_store_new_to_a_stream_continues_its_chain_and_goal_row(postgres_url: str) -> None:
    received = NewEvent(payload=GoalReceived(goal="x", user_id="u"), idempotency_key="r")
    planned = NewEvent(payload=PlanGenerated(plan_id="p", steps=[], source="cache"))
    with open_event_store(postgres_url) as a, open_event_store(postgres_url) as b:
        [first] = a.append("acme", "g", [received])
        # b has no head of "g": its guess that the stream is new must find a's head instead
        # of writing, and b then appends on top of it, with a's goal row as the summary.
        b.append("acme", "g", [planned])
        events = a.read_stream("acme", "g")
        [entry] = b.list_goals("acme")
        assert entry.position == first
        state = project_goal(events).model_dump(mode="json")
        summary = entry.summary.model_dump(mode="json")
        assert summary == {key: state[key] for key in summary}
        assert entry.summary.event_count == 2
        assert verify_store(a, "acme").ok
    assert [e.stream_version for e in events] == [1, 2]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash


def test_a_store_new_to_a_stream_retrying_an_append_gets_the_stored_positions(
    postgres_url: str,
) -> None:
    def events() -> list[NewEvent]:
        return [
            NewEvent(payload=GoalReceived(goal="x", user_id="u"), idempotency_key="r"),
            NewEvent(payload=StepStarted(step_id="a", tool_name="t"), idempotency_key="a"),
        ]

    with open_event_store(postgres_url) as a:
        positions = a.append("acme", "g", events())
    with open_event_store(postgres_url) as b:  # a retry after a restart: no head cached
        assert b.append("acme", "g", events()) == positions
        assert b.append("acme", "g", events(), expected_version=0) == positions
        assert [e.stream_version for e in b.read_stream("acme", "g")] == [1, 2]
        [entry] = b.list_goals("acme")
        assert entry.summary.event_count == 2


def test_appends_notify_listeners_once_committed_even_if_the_store_closes_at_once(
    postgres_url: str,
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        store = open_event_store(postgres_url)
        for n in range(20):
            store.append("acme", f"g{n}", burst(0, n))
        store.append("beta", "g", burst(0, 0))
        store.close()  # sends what is pending before the pool closes
        tenants = {n.payload for n in listener.notifies(timeout=5, stop_after=2)}
    assert tenants == {"acme", "beta"}


def test_unreachable_database_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError):
        PostgresEventStore("postgresql://nobody@/nowhere?host=/nonexistent", connect_timeout=0.5)


def test_unknown_url_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        open_event_store("mysql://localhost/db")
    with pytest.raises(ConfigurationError):
        open_event_store("sqlite:///:memory:")
    with pytest.raises(ConfigurationError):
        open_event_store("sqlite://")
