"""PostgreSQL specifics: gap-free global order for tailing readers under concurrent writers."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from omnihub.errors import ConfigurationError, StoreUnavailableError
from omnihub.events import EventEnvelope, GoalReceived, NewEvent, StepStarted, open_event_store
from omnihub.events._postgres import PostgresEventStore


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
