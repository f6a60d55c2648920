"""GoalState: the fold of a goal's events, deterministic and identical on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnihub.events import (
    ApprovalGranted,
    ApprovalGrantedV1,
    ApprovalRejected,
    ApprovalRequested,
    CompensationExecuted,
    CompensationFailed,
    EventEnvelope,
    EventPayload,
    EventStore,
    GoalCancelled,
    GoalCompleted,
    GoalFailed,
    GoalPaused,
    GoalReceived,
    GoalResumed,
    GoalState,
    NewEvent,
    PlanGenerated,
    PlanGeneratedV1,
    PlanStepV1,
    PolicyEvaluated,
    StepCompleted,
    StepFailed,
    StepStarted,
    StepState,
    ToolExecuted,
    ToolExecutedV1,
    canonical_json,
    default_registry,
    deterministic_event_id,
    open_event_store,
    project_goal,
)
from omnihub.events._store import BaseEventStore
from omnihub.plans import PlanStep

Clock = Callable[[float], datetime]

PLAN = PlanGenerated(
    plan_id="p-1",
    source="playbook",
    steps=[
        PlanStep(id="book", tool="hotel.book", args={"nights": 2}),
        PlanStep(id="pay", tool="card.charge", depends_on=["book"]),
    ],
)

SAGA: list[EventPayload] = [
    GoalReceived(goal="book a hotel and pay", user_id="u-1", context={"city": "Lyon"}),
    PLAN,
    StepStarted(step_id="book", tool_name="hotel.book"),
    ToolExecuted(tool_name="hotel.book", step_id="book", duration_ms=12.5, output={"id": "H1"}),
    StepCompleted(step_id="book", result={"booking": "H1"}),
    ApprovalRequested(step_id="pay", tool_name="card.charge", risk_lane="high"),
    ApprovalGranted(step_id="pay", decided_by="ops@acme"),
    StepStarted(step_id="pay", tool_name="card.charge"),
    StepFailed(step_id="pay", error="card declined", retryable=False),
    CompensationExecuted(step_id="book", tool_name="hotel.cancel", output="cancelled"),
    GoalFailed(error="card declined", compensations=["book"]),
]


def envelopes(payloads: list[EventPayload], at: Clock, goal_id: str = "g-1") -> list[EventEnvelope]:
    out = []
    for n, payload in enumerate(payloads, start=1):
        event_type, version = default_registry.key_of(payload)
        out.append(
            EventEnvelope(
                event_id=deterministic_event_id(at(n), goal_id, str(n)),
                stream_id=goal_id,
                stream_version=n,
                global_position=n * 10,
                tenant_id="acme",
                correlation_id=goal_id,
                causation_id=None,
                event_type=event_type,
                schema_version=version,
                occurred_at=at(n),
                recorded_at=at(n + 0.5),
                idempotency_key=None,
                payload=payload,
                prev_hash="0" * 64,
                hash="0" * 64,
            )
        )
    return out


def test_saga_with_approval_failure_and_compensation(at: Clock) -> None:
    state = project_goal(envelopes(SAGA, at))
    assert state.status == "failed"
    assert state.goal == "book a hotel and pay"
    assert state.plan_id == "p-1"
    assert state.plan_source == "playbook"
    assert [s.step_id for s in state.steps] == ["book", "pay"]
    book, pay = state.step("book"), state.step("pay")
    assert book is not None
    assert pay is not None
    assert book.status == "compensated"
    assert book.result == {"booking": "H1"}
    assert book.tool_calls == 1
    assert book.duration_ms == 12.5
    assert pay.status == "failed"
    assert pay.error == "card declined"
    assert pay.approval_decided_by == "ops@acme"
    assert [c.step_id for c in state.compensations] == ["book"]
    assert state.error == "card declined"
    assert state.version == state.event_count == len(SAGA)
    assert state.created_at == at(1)
    assert state.finished_at == at(len(SAGA))
    assert state.step("nope") is None


def test_pause_resume_rejection_cancel_and_completion(at: Clock) -> None:
    base: list[EventPayload] = [GoalReceived(goal="g", user_id="u"), PLAN]
    paused = project_goal(envelopes([*base, GoalPaused(by="ops")], at))
    assert (paused.status, paused.paused) == ("paused", True)
    resumed = project_goal(envelopes([*base, GoalPaused(by="ops"), GoalResumed(by="ops")], at))
    assert (resumed.status, resumed.paused) == ("running", False)
    waiting = project_goal(
        envelopes([*base, ApprovalRequested(step_id="pay", tool_name="c", risk_lane="high")], at)
    )
    assert waiting.status == "awaiting_approval"
    rejected = project_goal(
        envelopes(
            [
                *base,
                ApprovalRejected(step_id="pay", decided_by="timer", timed_out=True),
                CompensationFailed(step_id="book", tool_name="hotel.cancel", error="gone"),
                GoalCancelled(reason="rejected", cancelled_by="timer"),
            ],
            at,
        )
    )
    assert rejected.status == "cancelled"
    assert rejected.step("pay").status == "rejected"  # type: ignore[union-attr]
    assert rejected.step("book").status == "compensation_failed"  # type: ignore[union-attr]
    assert rejected.compensations[0].error == "gone"
    done = project_goal(envelopes([*base, GoalCompleted(result={"ok": True})], at))
    assert (done.status, done.result) == ("completed", {"ok": True})
    empty = project_goal([], goal_id="g-0")
    assert (empty.goal_id, empty.status, empty.event_count) == ("g-0", "new", 0)


# Every payload type the fold reads, a type it only counts, and a second goal's step.
MIXED: list[EventPayload] = [
    *SAGA,
    GoalPaused(by="ops"),
    GoalResumed(by="ops"),
    ApprovalRejected(step_id="pay", decided_by="bob"),
    CompensationFailed(step_id="pay", tool_name="card.refund", error="gone"),
    GoalCancelled(reason="user", cancelled_by="u-1", partial_results={"book": "H1"}),
    GoalCompleted(result={"ok": [1, 2.5, None]}, metrics={"cost": 0.25}),
    ToolExecuted(tool_name="search", step_id="other", duration_ms=3, output=[1, "two"]),
    ToolExecuted(tool_name="search", duration_ms=1.5),
    PolicyEvaluated(
        phase="step", action="run", resource="x", outcome="permit", version=0, reason="default"
    ),
]


def validated(state: GoalState) -> GoalState:
    """``state`` built again through the models' validation, from the fields the fold set."""
    given = {name: getattr(state, name) for name in state.model_fields_set}
    given["steps"] = [
        StepState(**{name: getattr(step, name) for name in step.model_fields_set})
        for step in state.steps
    ]
    return GoalState(**given)


def assert_as_validated(state: GoalState) -> None:
    expected = validated(state)
    assert state == expected
    # Field by field, in field order, with the same types: what == and to_json could hide.
    for built, checked in [(state, expected), *zip(state.steps, expected.steps, strict=True)]:
        assert list(built.__dict__.items()) == list(checked.__dict__.items())
        assert [type(v) for v in built.__dict__.values()] == [
            type(v) for v in checked.__dict__.values()
        ]
        assert built.model_fields_set == checked.model_fields_set
        assert built.__pydantic_extra__ == checked.__pydantic_extra__
        assert built.__pydantic_private__ == checked.__pydantic_private__
    assert state.to_json() == expected.to_json()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(st.sampled_from(MIXED), max_size=20))
def test_folded_state_equals_the_validated_model(payloads: list[EventPayload], at: Clock) -> None:
    # The fold builds GoalState without validating again (its values are validated
    # payloads'): the result must be the model validation would build, to the fields set.
    state = project_goal(envelopes(payloads, at))
    assert_as_validated(state)
    assert state.event_count == len(payloads)


def test_folded_state_sets_the_fields_the_events_gave(at: Clock) -> None:
    # As GoalState(**fields) would: the fields set are those the events named, no others.
    empty = project_goal([], goal_id="g-0")
    assert_as_validated(empty)
    assert empty.model_fields_set == {"goal_id", "steps", "compensations"}
    state = project_goal(envelopes(SAGA, at))
    assert state.model_fields_set == {
        *("goal_id", "tenant_id", "created_at", "updated_at", "version", "event_count"),
        *("status", "goal", "user_id", "context", "plan_id", "plan_source", "plan"),
        *("steps", "compensations", "error", "finished_at", "partial_results"),
    }
    book = state.step("book")
    assert book is not None
    assert book.model_fields_set == {
        *("step_id", "tool_name", "status", "attempts", "started_at", "error"),
        *("tool_calls", "duration_ms", "result", "finished_at"),
    }


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(st.sampled_from(SAGA), max_size=15))
def test_fold_is_deterministic_and_survives_serialisation(
    payloads: list[EventPayload], at: Clock
) -> None:
    events = envelopes(payloads, at)
    first = project_goal(events).to_json()
    assert project_goal(events).to_json() == first
    # Through stored JSON and back: payloads decode to the same state.
    decoded = [
        e.model_copy(
            update={
                "payload": default_registry.decode(
                    e.event_type,
                    e.schema_version,
                    canonical_json(e.payload.model_dump(mode="json")),
                )[0]
            }
        )
        for e in events
    ]
    assert project_goal(decoded).to_json() == first


def test_replay_gives_byte_identical_state_on_both_backends(
    tmp_path: Path, postgres_url: str, at: Clock
) -> None:
    news = [
        NewEvent(
            payload=payload,
            event_id=deterministic_event_id(at(n), "g-1", str(n)),
            occurred_at=at(n),
            idempotency_key=f"k{n}",
        )
        for n, payload in enumerate(SAGA, start=1)
    ]
    states = []
    for url in (f"sqlite:///{tmp_path / 'events.db'}", postgres_url):
        with open_event_store(url) as store:
            store.append("acme", "g-1", news[:4])
            store.append("acme", "g-1", news[4:], expected_version=4)
            states.append(project_goal(store.read_stream("acme", "g-1")).to_json())
    assert states[0] == states[1]
    assert '"status":"failed"' in states[0]


def test_goal_state_from_stored_rows_equals_project_goal_of_read_stream(
    store: EventStore, at: Clock
) -> None:
    # Every fold branch, events of older schema versions (upcast on read) and an event type
    # the fold only counts, appended in several batches as a saga would.
    legacy: list[EventPayload] = [
        PlanGeneratedV1(
            plan_id="p-0",
            source="llm",
            steps=[PlanStepV1(step_id="book", tool_name="hotel.book", args={"nights": 1})],
        ),
        ToolExecutedV1(tool_name="hotel.book", input={"n": 1}, output=None, duration_s=0.5),
        ApprovalGrantedV1(step_id="book", decided_by="ann"),
    ]
    later: list[EventPayload] = [
        GoalPaused(by="ops"),
        GoalResumed(by="ops"),
        ApprovalRejected(step_id="pay", decided_by="bob"),
        CompensationFailed(step_id="pay", tool_name="card.refund", error="gone"),
        PolicyEvaluated(
            phase="step",
            action="run",
            resource="card.charge",
            outcome="permit",
            version=0,
            reason="default",
        ),
        GoalCancelled(reason="user", cancelled_by="u-1", partial_results={"book": "H1"}),
    ]
    payloads = [*SAGA[:1], *legacy, *SAGA[1:], *later]
    news = [
        NewEvent(payload=payload, occurred_at=at(n), idempotency_key=f"k{n}")
        for n, payload in enumerate(payloads, start=1)
    ]
    for start in range(0, len(news), 4):
        store.append("acme", "g-1", news[start : start + 4])
    store.append("acme", "g-2", news[:3])  # another goal: not folded into g-1
    store.append("other", "g-1", news[:2])  # another tenant: not folded either

    expected = project_goal(store.read_stream("acme", "g-1"))
    state = store.goal_state("acme", "g-1")
    assert state == expected
    assert state.to_json() == expected.to_json()
    assert_as_validated(state)
    assert list(store.goal_states("acme", ["g-1", "g-2"])) == [
        state,
        project_goal(store.read_stream("acme", "g-2")),
    ]
    assert (state.event_count, state.status) == (len(payloads), "cancelled")
    assert state.step("book").attempts == 1  # type: ignore[union-attr]
    unknown = store.goal_state("acme", "nope")
    assert unknown == project_goal([], goal_id="nope")
    assert (unknown.goal_id, unknown.event_count) == ("nope", 0)


def test_goal_states_of_many_goals_equal_goal_state_of_each(store: EventStore, at: Clock) -> None:
    # Several queries (two goals per query here), goals of different lengths, a goal asked
    # for twice, unknown goals (a whole query of them too), and the same goal id under
    # another tenant left out.
    for n in range(5):
        news = [
            NewEvent(payload=payload, occurred_at=at(n * 100 + k), idempotency_key=f"k{k}")
            for k, payload in enumerate(SAGA[: 3 + n])
        ]
        store.append("acme", f"g-{n}", news)
    store.append("other", "g-1", [NewEvent(payload=SAGA[0], occurred_at=at(1))])
    assert isinstance(store, BaseEventStore)
    store.goals_per_query = 2
    asked = ["g-3", "nope", "g-0", "g-1", "g-3", "g-4", "g-2"]
    states = list(store.goal_states("acme", asked))
    assert states == [store.goal_state("acme", goal_id) for goal_id in asked]
    assert [s.event_count for s in states] == [6, 0, 3, 4, 6, 7, 5]
    assert [s.goal_id for s in states] == asked
    assert list(store.goal_states("acme", ["nope", "nope", "g-1"]))[2] == states[3]
    assert list(store.goal_states("acme", [])) == []
