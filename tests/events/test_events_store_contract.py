"""The EventStore contract, written once and run against every backend on a real database."""

from __future__ import annotations

import gc
import itertools
import threading
from collections.abc import Callable
from datetime import datetime

import pytest

from omnihub.errors import (
    ConcurrencyError,
    PayloadTooLargeError,
    StoreError,
    UnknownEventTypeError,
    ValidationError,
)
from omnihub.events import (
    GENESIS_HASH,
    EventEnvelope,
    EventPayload,
    EventRegistry,
    EventStore,
    GoalCompleted,
    GoalReceived,
    NewEvent,
    StepCompleted,
    StepStarted,
    deterministic_event_id,
    open_event_store,
    register_event,
)


def goal(text: str = "book a table for two", key: str | None = None) -> NewEvent:
    return NewEvent(payload=GoalReceived(goal=text, user_id="u-1"), idempotency_key=key)


def step(step_id: str, key: str | None = None) -> NewEvent:
    return NewEvent(payload=StepStarted(step_id=step_id, tool_name="http.get"), idempotency_key=key)


def test_append_assigns_versions_positions_and_reads_back(store: EventStore) -> None:
    positions = store.append("acme", "goal-1", [goal(), step("s1"), step("s2")])
    assert len(positions) == 3
    assert positions == sorted(positions)
    events = store.read_stream("acme", "goal-1")
    assert [e.stream_version for e in events] == [1, 2, 3]
    assert [e.global_position for e in events] == positions
    assert isinstance(events[0].payload, GoalReceived)
    assert events[0].payload.goal == "book a table for two"
    assert events[0].event_type == "GoalReceived"
    assert events[0].correlation_id == "goal-1"
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    assert store.stream_version("acme", "goal-1") == 3
    assert store.read_stream("acme", "goal-1", from_version=3)[0].payload == StepStarted(
        step_id="s2", tool_name="http.get"
    )


def test_empty_stream_has_version_zero_and_no_events(store: EventStore) -> None:
    assert store.stream_version("acme", "nothing") == 0
    assert store.read_stream("acme", "nothing") == []
    assert store.append("acme", "nothing", []) == []


def test_append_with_stale_version_raises_concurrency_error(store: EventStore) -> None:
    store.append("acme", "g", [goal()], expected_version=0)
    with pytest.raises(ConcurrencyError) as caught:
        store.append("acme", "g", [step("s1")], expected_version=0)
    assert caught.value.actual_version == 1
    assert caught.value.expected_version == 0
    assert store.stream_version("acme", "g") == 1
    store.append("acme", "g", [step("s1")], expected_version=1)
    assert store.stream_version("acme", "g") == 2


def test_idempotency_key_returns_existing_position_without_storing_again(
    store: EventStore,
) -> None:
    first = store.append("acme", "g", [goal(key="received"), step("s1", key="s1-start")])
    again = store.append("acme", "g", [goal(key="received"), step("s1", key="s1-start")])
    assert again == first
    # A retry with a stale expected_version is still answered from the stored events.
    assert store.append("acme", "g", [step("s1", key="s1-start")], expected_version=0) == [first[1]]
    mixed = store.append("acme", "g", [step("s1", key="s1-start"), step("s2", key="s2-start")])
    assert mixed[0] == first[1]
    assert mixed[1] > first[1]
    assert store.stream_version("acme", "g") == 3
    # The same key inside one batch is stored once.
    twice = store.append("acme", "g", [step("s3", key="k3"), step("s3", key="k3")])
    assert twice[0] == twice[1]
    assert store.stream_version("acme", "g") == 4


def test_idempotency_keys_are_scoped_to_their_stream(store: EventStore) -> None:
    a = store.append("acme", "g1", [goal(key="received")])
    b = store.append("acme", "g2", [goal(key="received")])
    assert a != b
    assert store.stream_version("acme", "g2") == 1


def test_explicit_event_id_is_idempotent_and_validated(
    store: EventStore, at: Callable[[float], datetime]
) -> None:
    event_id = deterministic_event_id(at(0), "goal-1", "s1", "StepStarted")
    event = NewEvent(payload=StepStarted(step_id="s1", tool_name="t"), event_id=event_id)
    first = store.append("acme", "goal-1", [event])
    assert store.append("acme", "goal-1", [event]) == first
    assert store.read_stream("acme", "goal-1")[0].event_id == event_id
    with pytest.raises(StoreError):
        store.append("acme", "goal-2", [event])
    with pytest.raises(ValidationError):
        NewEvent(payload=StepStarted(step_id="s1", tool_name="t"), event_id="not-a-uuid")


def test_tenants_are_isolated_on_every_read(store: EventStore) -> None:
    store.append("acme", "g", [goal("acme goal")])
    store.append("globex", "g", [goal("globex goal"), step("s1")])
    assert [e.payload.goal for e in store.read_stream("acme", "g")] == ["acme goal"]  # type: ignore[attr-defined]
    assert store.stream_version("acme", "g") == 1
    assert {e.tenant_id for e in store.read_all("acme")} == {"acme"}
    assert len(store.read_all("globex")) == 2
    assert store.read_all("initech") == []
    assert store.list_streams("acme") == ["g"]
    assert store.list_tenants() == ["acme", "globex"]
    assert {r.tenant_id for r in store.iter_records("globex")} == {"globex"}


def test_read_all_pages_in_global_order(store: EventStore) -> None:
    for n in range(5):
        store.append("acme", f"g{n}", [goal(), step("s1")])
    everything = store.read_all("acme")
    assert len(everything) == 10
    positions = [e.global_position for e in everything]
    assert positions == sorted(set(positions))
    page = store.read_all("acme", from_position=positions[3], limit=4)
    assert [e.global_position for e in page] == positions[4:8]
    records = list(store.iter_records("acme", batch_size=3))
    assert [r.global_position for r in records] == positions


def test_payload_over_the_limit_is_rejected_and_nothing_written(store_url: str) -> None:
    with open_event_store(store_url, max_payload_bytes=1024) as small:
        with pytest.raises(PayloadTooLargeError) as caught:
            small.append("acme", "g", [step("s1"), goal("x" * 2000)])
        assert caught.value.limit == 1024
        assert small.stream_version("acme", "g") == 0
        # Multi-byte characters count as bytes, not characters.
        with pytest.raises(PayloadTooLargeError):
            small.append("acme", "g", [goal("€" * 400)])


def test_unregistered_payload_type_is_rejected(store: EventStore) -> None:
    class Unregistered(EventPayload):
        note: str

    with pytest.raises(UnknownEventTypeError):
        store.append("acme", "g", [NewEvent(payload=Unregistered(note="x"))])
    assert store.stream_version("acme", "g") == 0


def test_bad_arguments_get_validation_errors(store: EventStore) -> None:
    with pytest.raises(ValidationError):
        store.append("", "g", [goal()])
    with pytest.raises(ValidationError):
        store.append("acme", "g" * 500, [goal()])
    with pytest.raises(ValidationError):
        store.append("acme", "g", [goal()], expected_version=-1)
    with pytest.raises(ValidationError):
        store.append("acme", "g", [GoalReceived(goal="x", user_id="u")])  # type: ignore[list-item]


def test_occurred_at_and_ids_are_kept(store: EventStore, at: Callable[[float], datetime]) -> None:
    event = NewEvent(
        payload=StepCompleted(step_id="s1", result={"ok": True, "price": 12.5}),
        occurred_at=at(42),
        correlation_id="corr-1",
        causation_id="cause-1",
        idempotency_key="s1-done",
    )
    store.append("acme", "g", [event])
    stored = store.read_stream("acme", "g")[0]
    assert stored.occurred_at == at(42)
    assert stored.recorded_at.tzinfo is not None
    assert (stored.correlation_id, stored.causation_id) == ("corr-1", "cause-1")
    assert stored.idempotency_key == "s1-done"
    assert stored.payload == event.payload


def test_concurrent_appends_to_one_stream_keep_versions_dense(store: EventStore) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                store.append("acme", "shared", [step(f"w{n}-{i}")])
        except BaseException as exc:  # pragma: no cover - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    events = store.read_stream("acme", "shared")
    assert [e.stream_version for e in events] == list(range(1, 41))
    for prev, event in itertools.pairwise(events):
        assert event.prev_hash == prev.hash


def test_subscription_catches_up_then_follows_live_appends(store: EventStore) -> None:
    store.append("acme", "g1", [goal(), step("s1")])
    store.append("globex", "g1", [goal()])
    with store.subscribe("acme", poll_interval=0.2) as subscription:
        backlog = subscription.poll()
        assert [e.stream_version for e in backlog] == [1, 2]
        assert subscription.poll() == []
        seen: list[int] = []

        def follow() -> None:
            for event in subscription:
                seen.append(event.global_position)
                if len(seen) == 3:
                    subscription.stop()

        thread = threading.Thread(target=follow)
        thread.start()
        positions = store.append("acme", "g2", [goal(), step("s1")])
        positions += store.append("acme", "g1", [NewEvent(payload=GoalCompleted(result="done"))])
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert seen == positions
        assert subscription.position == positions[-1]


def test_closed_store_refuses_work(store_url: str) -> None:
    opened = open_event_store(store_url)
    opened.close()
    opened.close()
    with pytest.raises(StoreError):
        opened.append("acme", "g", [goal()])


def test_read_envelopes_equal_validated_ones(store: EventStore) -> None:
    store.append("acme", "g", [goal(key="k"), step("s1"), step("s2")])
    for event in store.read_stream("acme", "g"):
        assert EventEnvelope.model_validate(dict(event)) == event
        assert event.model_dump() == EventEnvelope.model_validate(dict(event)).model_dump()
        assert event.model_fields_set == EventEnvelope.model_validate(dict(event)).model_fields_set
    for event in store.read_all("acme"):
        copied = event.model_copy(update={"causation_id": "c-1"})
        assert (copied.causation_id, event.causation_id) == ("c-1", None)
        assert copied.model_fields_set == event.model_fields_set
    # Payloads read back carry the fields set a validated payload has, and copying one with
    # an update leaves the others' untouched (read payloads of a class share one set).
    first, second = (e.payload for e in store.read_all("acme", 0) if e.event_type == "StepStarted")
    validated = type(first).model_validate(first.model_dump())
    assert first.model_fields_set == validated.model_fields_set
    updated = first.model_copy(update={"tool_name": "other"})
    assert updated.tool_name == "other"
    assert second.model_fields_set == validated.model_fields_set
    assert updated.model_fields_set == validated.model_fields_set


def test_reads_leave_the_garbage_collector_as_they_found_it(store_url: str) -> None:
    # Reads pause automatic collection while they build a batch: it must be back on after
    # a read, a read that fails midway included, and stay off when the application had it off.
    with open_event_store(store_url) as store:
        store.append("acme", "g", [goal(), step("s1"), step("s2")])
        assert gc.isenabled()
        assert len(store.read_all("acme")) == 3
        assert gc.isenabled()
        gc.disable()
        try:
            assert len(store.read_stream("acme", "g")) == 3
            assert not gc.isenabled()
        finally:
            gc.enable()
    with open_event_store(store_url, registry=EventRegistry()) as unaware:
        with pytest.raises(UnknownEventTypeError):
            unaware.read_all("acme")
        assert gc.isenabled()


def test_reads_see_a_version_registered_after_they_warmed_up(store_url: str) -> None:
    registry = EventRegistry()

    @register_event("Parcel", registry=registry)
    class Parcel(EventPayload):
        parcel: str

    with open_event_store(store_url, registry=registry) as store:
        store.append("acme", "p", [NewEvent(payload=Parcel(parcel="p-1"))])
        assert store.read_all("acme")[0].payload == Parcel(parcel="p-1")

        @register_event("Parcel", version=2, registry=registry)
        class ParcelV2(EventPayload):
            parcel: str
            carrier: str

        registry.register_upcaster("Parcel", 1, lambda data: {**data, "carrier": "post"})
        (event,) = store.read_all("acme")
        assert (event.payload, event.schema_version) == (ParcelV2(parcel="p-1", carrier="post"), 2)
        store.append("acme", "p", [NewEvent(payload=ParcelV2(parcel="p-2", carrier="van"))])
        assert [e.payload for e in store.read_stream("acme", "p")] == [
            ParcelV2(parcel="p-1", carrier="post"),
            ParcelV2(parcel="p-2", carrier="van"),
        ]


def test_two_stores_on_one_database_take_turns_on_one_stream(store_url: str) -> None:
    # Each store remembers the heads it wrote; the other's appends must not be overwritten.
    with open_event_store(store_url) as a, open_event_store(store_url) as b:
        for n in range(6):
            writer = a if n % 2 == 0 else b
            writer.append("acme", "shared", [step(f"s{n}", key=f"k{n}")])
        assert b.append("acme", "shared", [step("s0", key="k0")]) == [
            a.read_stream("acme", "shared")[0].global_position
        ]
        events = a.read_stream("acme", "shared")
    assert [e.stream_version for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert events[0].prev_hash == GENESIS_HASH


def test_a_store_sees_what_another_store_committed_before_its_next_append(
    store_url: str,
) -> None:
    # Each store caches the last position and the heads it wrote; another store's commits
    # (to another stream, then to this one) must neither reuse a position nor hide a version.
    with open_event_store(store_url) as a, open_event_store(store_url) as b:
        a.append("acme", "one", [step("s1")])
        b.append("acme", "two", [step("s1")])
        [mine] = a.append("acme", "one", [step("s2")])
        b.append("acme", "one", [step("s3")])
        with pytest.raises(ConcurrencyError) as raised:
            a.append("acme", "one", [step("s4")], expected_version=2)
        assert raised.value.actual_version == 3
        [last] = a.append("acme", "one", [step("s4")], expected_version=3)
        assert a.list_goals("acme")[-1].summary.status == "running"
        events = b.read_all("acme")
    assert [e.global_position for e in events] == sorted({e.global_position for e in events})
    assert mine < last == events[-1].global_position
    one = [e for e in events if e.stream_id == "one"]
    assert [e.stream_version for e in one] == [1, 2, 3, 4]
    assert [e.prev_hash for e in one[1:]] == [e.hash for e in one[:-1]]
