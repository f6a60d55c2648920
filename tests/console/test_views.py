"""What the console's pages compute from a real SQLite event store (no server needed)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from omnihub.console import audit_goal, cache_report
from omnihub.console._views import (
    PlanRecord,
    describe,
    format_age,
    goal_detail,
    goal_summaries,
    hit_rate_series,
    pending_approvals,
)
from omnihub.events import (
    ApprovalRequested,
    CacheDetails,
    CompensationExecuted,
    EventPayload,
    EventStore,
    GoalFailed,
    GoalReceived,
    NewEvent,
    PlanGenerated,
    StepCompleted,
    StepFailed,
    StepStarted,
    TokenUsage,
    ToolExecuted,
    open_event_store,
)
from omnihub.plans import PlanStep

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with open_event_store(f"sqlite:///{tmp_path / 'events.db'}") as opened:
        yield opened


def append(
    store: EventStore, tenant: str, goal: str, *payloads: EventPayload, at: datetime = T0
) -> None:
    store.append(
        tenant,
        goal,
        [
            NewEvent(payload=p, occurred_at=at + timedelta(seconds=i))
            for i, p in enumerate(payloads)
        ],
    )


def plan(source: str, *, cache: CacheDetails | None = None, tokens: int = 0) -> PlanGenerated:
    return PlanGenerated(
        plan_id="p",
        steps=[
            PlanStep(id="book", tool="database_write", args={"sku": "x"}),
            PlanStep(id="pay", tool="charge", depends_on=["book"]),
        ],
        source=source,  # type: ignore[arg-type]
        cache=cache,
        token_usage=TokenUsage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
        if tokens
        else None,
    )


def failed_goal(store: EventStore, tenant: str = "acme", goal: str = "g1") -> None:
    append(
        store,
        tenant,
        goal,
        GoalReceived(goal="book and pay", user_id="u"),
        plan("llm", tokens=120),
        StepStarted(step_id="book", tool_name="database_write"),
        ToolExecuted(
            tool_name="database_write",
            input={"sku": "resolved"},
            output={"id": "r1"},
            duration_ms=12.5,
            step_id="book",
        ),
        StepCompleted(step_id="book", result={"id": "r1"}),
        StepStarted(step_id="pay", tool_name="charge"),
        StepFailed(step_id="pay", error="card declined"),
        CompensationExecuted(step_id="book", tool_name="database_delete", output={"ok": True}),
        GoalFailed(error="card declined", compensations=["book"]),
    )


def test_goal_detail_shows_steps_compensations_dag_and_a_verified_chain(store: EventStore) -> None:
    failed_goal(store)
    detail = goal_detail(store, "acme", "g1")
    assert detail is not None
    assert detail.finished
    assert detail.state.status == "failed"
    book, pay = detail.steps
    assert (book.status, book.input, book.output, book.attempts, book.duration_ms) == (
        "compensated",
        {"sku": "resolved"},
        {"id": "r1"},
        1,
        12.5,
    )
    assert (pay.status, pay.error, pay.input, pay.depends_on) == (
        "failed",
        "card declined",
        {},
        ("book",),
    )
    assert [c.tool_name for c in detail.state.compensations] == ["database_delete"]
    assert {n.step_id: n.column for n in detail.dag.nodes} == {"book": 0, "pay": 1}
    assert detail.audit.ok
    assert detail.audit.events == 9
    assert detail.summary.tokens == 120
    assert detail.summary.plan_source == "llm"
    assert [e.type for e in detail.timeline][-1] == "GoalFailed"
    assert detail.timeline[-1].text == "card declined"


def test_another_tenants_goal_is_absent(store: EventStore) -> None:
    failed_goal(store, tenant="acme")
    assert goal_detail(store, "globex", "g1") is None
    assert goal_summaries(store, "globex", ["g1"]) == []
    assert [r.goal_id for r in goal_summaries(store, "acme", ["g1", "missing"])] == ["g1"]


def test_audit_reports_a_tampered_event(store: EventStore, tmp_path: Path) -> None:
    failed_goal(store)
    with sqlite3.connect(tmp_path / "events.db") as db:
        db.execute(
            "UPDATE omnihub_events SET payload = replace(payload, 'declined', 'accepted') "
            "WHERE stream_id = 'g1' AND event_type = 'StepFailed'"
        )
    status = audit_goal(store, "acme", "g1")
    positions = [e.global_position for e in store.read_stream("acme", "g1")]
    assert audit_goal(store, "acme", "g1", span=(positions[0], positions[-1])) == status
    assert audit_goal(store, "acme", "g1", span=(positions[0], positions[5])).ok
    assert not status.ok
    assert "version 7" in status.detail
    assert "tampered" in status.detail
    assert audit_goal(store, "acme", "nothing").detail == "no events stored"


def test_pending_approvals_carry_tool_args_and_risk_lane(store: EventStore) -> None:
    append(
        store,
        "acme",
        "g2",
        GoalReceived(goal="pay the invoice", user_id="u"),
        plan("playbook"),
        ApprovalRequested(step_id="pay", tool_name="charge", args={"amount": 40}, risk_lane="red"),
    )
    failed_goal(store)
    found = pending_approvals(store, "acme", ["g2", "g1", "unknown"])
    assert [(a.goal_id, a.step_id, a.tool_name, a.args, a.risk_lane) for a in found] == [
        ("g2", "pay", "charge", {"amount": 40}, "red")
    ]
    assert pending_approvals(store, "globex", ["g2"]) == []


def test_cache_report_counts_hits_misses_templates_and_tokens(store: EventStore) -> None:
    hit = CacheDetails(
        template="book {city}",
        similarity=0.97,
        saved_tokens=300,  # type: ignore[call-arg]
        saved_cost=0.002,
    )
    miss = CacheDetails(reason="low_similarity")  # type: ignore[call-arg]
    append(
        store,
        "acme",
        "a",
        GoalReceived(goal="g", user_id="u"),
        plan("llm", tokens=300, cache=miss),
        at=T0,
    )
    append(
        store,
        "acme",
        "b",
        GoalReceived(goal="g", user_id="u"),
        plan("cache", cache=hit),
        at=T0 + timedelta(hours=1),
    )
    append(
        store,
        "acme",
        "c",
        GoalReceived(goal="g", user_id="u"),
        plan("cache", cache=hit),
        at=T0 + timedelta(hours=2),
    )
    append(store, "globex", "d", GoalReceived(goal="g", user_id="u"), plan("llm", tokens=9))
    report = cache_report(store, "acme", buckets=3, now=T0 + timedelta(hours=2, seconds=5))
    assert (report.plans, report.hits, round(report.hit_rate, 3)) == (3, 2, 0.667)
    assert report.tokens_spent == 300
    assert report.tokens_saved == 600
    assert report.cost_saved == pytest.approx(0.004)
    assert report.templates.most_common() == [("book {city}", 2)]
    assert dict(report.miss_reasons) == {"low_similarity": 1}
    assert [(rate, n) for _, rate, n in report.series] == [(0.0, 1), (1.0, 1), (1.0, 1)]


def test_hit_rate_series_leaves_out_empty_spans() -> None:
    records = [
        PlanRecord(T0, "cache", None, 0, 0, 0.0, None),
        PlanRecord(T0 + timedelta(minutes=1), "llm", None, 5, 0, 0.0, None),
        PlanRecord(T0 + timedelta(hours=10), "cache", None, 0, 0, 0.0, None),
    ]
    series = hit_rate_series(records, 10, T0 + timedelta(hours=10))
    assert [(rate, n) for _, rate, n in series] == [(0.5, 2), (1.0, 1)]
    assert series[0][0] == int(T0.timestamp())
    assert hit_rate_series([], 10, T0) == []


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (125, "2m"), (7300, "2h"), (200000, "2d"), (-3, "0s")]
)
def test_format_age(seconds: int, text: str) -> None:
    assert format_age(T0, T0 + timedelta(seconds=seconds)) == text
    assert format_age(None, T0) == "-"


def test_timeline_descriptions(store: EventStore) -> None:
    failed_goal(store)
    append(store, "acme", "g3", GoalReceived(goal="x" * 300, user_id="u"))
    texts = {e.event_type: describe(e) for e in store.read_stream("acme", "g1")}
    assert texts["PlanGenerated"] == "2 steps, source llm"
    assert texts["ToolExecuted"] == "book: database_write attempt 1"
    assert texts["StepCompleted"] == "book"
    assert texts["CompensationExecuted"] == "book: database_delete"
    long = describe(store.read_stream("acme", "g3")[0])
    assert len(long) == 120
    assert long.endswith("…")


def test_plans_within_a_minute_share_one_span() -> None:
    records = [
        PlanRecord(T0 + timedelta(seconds=s), "cache", None, 0, 0, 0.0, None) for s in (0, 5, 20)
    ]
    assert [
        (rate, n) for _, rate, n in hit_rate_series(records, 24, T0 + timedelta(seconds=30))
    ] == [(1.0, 3)]
