"""What the console's pages show, computed from a goal's events in the event store.

Everything here is a pure read of the store (synchronous; routes run it in a thread) and is
scoped to one tenant: every read names the tenant, so another tenant's goal is simply absent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from omnihub.console._dag import DagLayout, dag_steps, layout_dag
from omnihub.events import (
    ApprovalRequested,
    EventEnvelope,
    EventStore,
    GoalState,
    PlanGenerated,
    StoredRecord,
    ToolExecuted,
    project_goal,
    verify_records,
)

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
MIN_BUCKET_S = 60.0
"""The shortest span of the hit-rate chart: finer spans would hold one plan each."""


@dataclass(frozen=True)
class GoalSummary:
    """One row of the goals table."""

    goal_id: str
    tenant_id: str
    status: str
    goal: str
    created_at: datetime | None
    plan_source: str | None
    tokens: int
    cost: float | None

    def age(self, now: datetime) -> str:
        return format_age(self.created_at, now)


@dataclass(frozen=True)
class StepView:
    step_id: str
    tool_name: str
    status: str
    depends_on: tuple[str, ...]
    input: Any
    output: Any
    attempts: int
    duration_ms: float
    error: str | None
    decided_by: str | None


@dataclass(frozen=True)
class TimelineEntry:
    version: int
    type: str
    at: datetime
    text: str


@dataclass(frozen=True)
class AuditStatus:
    """Whether the goal's hash chain recomputes from its stored events."""

    ok: bool
    events: int
    detail: str


@dataclass(frozen=True)
class GoalDetail:
    summary: GoalSummary
    state: GoalState
    steps: tuple[StepView, ...]
    dag: DagLayout
    timeline: tuple[TimelineEntry, ...]
    audit: AuditStatus
    # obs: the goal's OpenTelemetry trace (from GoalReceived), to go from audit to trace.
    trace_id: str | None = None
    # The plan-cache entry that planned the goal (a cache hit), for "report a wrong plan".
    cache_entry_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.state.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class PendingApproval:
    goal_id: str
    goal: str
    step_id: str
    tool_name: str
    args: Any
    risk_lane: str
    requested_at: datetime


@dataclass(frozen=True)
class PlanRecord:
    """One PlanGenerated event, reduced to what the cache and cost page needs."""

    at: datetime
    source: str
    template: str | None
    tokens_spent: int
    tokens_saved: int
    cost_saved: float
    miss_reason: str | None


@dataclass
class CacheReport:
    """The cache and cost page's figures, from the tenant's PlanGenerated events."""

    plans: int = 0
    hits: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    miss_reasons: Counter[str] = field(default_factory=Counter)
    templates: Counter[str] = field(default_factory=Counter)
    tokens_spent: int = 0
    tokens_saved: int = 0
    cost_saved: float = 0.0
    series: list[tuple[int, float, int]] = field(default_factory=list)
    """(bucket start as Unix seconds, hit rate 0-1, plans in the bucket)."""

    @property
    def hit_rate(self) -> float:
        return self.hits / self.plans if self.plans else 0.0


def format_age(then: datetime | None, now: datetime) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how long ago ``then`` was."""
    if then is None:
        return "-"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _plan_event(events: Iterable[EventEnvelope]) -> PlanGenerated | None:
    found = None
    for event in events:
        if isinstance(event.payload, PlanGenerated):
            found = event.payload
    return found


def _extra(model: Any, name: str) -> Any:
    """An extra field a payload or its details carry beyond the CDM (None when absent)."""
    if model is None:
        return None
    extra = getattr(model, "model_extra", None) or {}
    return extra.get(name, getattr(model, name, None))


def summarize(state: GoalState, events: Sequence[EventEnvelope]) -> GoalSummary:
    """The goals-table row of a goal: its state plus the planning tokens and cost."""
    plan = _plan_event(events)
    tokens = plan.token_usage.total_tokens if plan and plan.token_usage else 0
    cost = _extra(plan, "cost") if plan else None
    return GoalSummary(
        goal_id=state.goal_id,
        tenant_id=state.tenant_id or "",
        status=state.status,
        goal=state.goal or "",
        created_at=state.created_at,
        plan_source=state.plan_source,
        tokens=tokens,
        cost=float(cost) if isinstance(cost, (int, float)) else None,
    )


def read_goal(store: EventStore, tenant_id: str, goal_id: str) -> list[EventEnvelope]:
    """The goal's events (empty when the tenant has no such goal)."""
    return store.read_stream(tenant_id, goal_id)


def goal_summaries(store: EventStore, tenant_id: str, goal_ids: Iterable[str]) -> list[GoalSummary]:
    """Rows for ``goal_ids`` in the given order; ids without events are left out."""
    rows = []
    for goal_id in goal_ids:
        events = read_goal(store, tenant_id, goal_id)
        if events:
            rows.append(summarize(project_goal(events, goal_id), events))
    return rows


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(event: EventEnvelope) -> str:
    """One line saying what the event means, for the timeline."""
    data = event.payload.model_dump(mode="json")
    step = data.get("step_id")
    if event.event_type == "GoalReceived":
        return _short(data.get("goal", ""))
    if event.event_type == "PlanGenerated":
        return f"{len(data.get('steps', []))} steps, source {data.get('source')}"
    if event.event_type == "ToolExecuted":
        return f"{step}: {data.get('tool_name')} attempt {data.get('attempt')}"
    if event.event_type in {"StepFailed", "CompensationFailed"}:
        return f"{step}: {_short(data.get('error', ''))}"
    if event.event_type in {"GoalFailed", "GoalCancelled"}:
        return _short(data.get("error") or data.get("reason") or "")
    if event.event_type == "ApprovalRequested":
        return f"{step}: {data.get('tool_name')} ({data.get('risk_lane')} lane)"
    if event.event_type in {"ApprovalGranted", "ApprovalRejected"}:
        reason = f": {data['reason']}" if data.get("reason") else ""
        return f"{step} by {data.get('decided_by')}{reason}"
    if step:
        return f"{step}" + (f": {data['tool_name']}" if data.get("tool_name") else "")
    return ""


def timeline_entry(event: EventEnvelope) -> TimelineEntry:
    return TimelineEntry(event.stream_version, event.event_type, event.occurred_at, describe(event))


def audit_goal(
    store: EventStore, tenant_id: str, goal_id: str, *, span: tuple[int, int] | None = None
) -> AuditStatus:
    """Recompute the goal's hash chain from its stored rows (tampering shows as a break).

    ``span`` (the global positions of the goal's first and last events, when the caller has
    read them) limits the scan to the goal's lifetime instead of the tenant's whole history.
    """
    start, end = (span[0] - 1, span[1]) if span else (0, None)

    def records() -> Iterator[StoredRecord]:
        for record in store.iter_records(tenant_id, start):
            if end is not None and record.global_position > end:
                return
            if record.stream_id == goal_id:
                yield record

    report = verify_records(records())
    if report.events == 0:
        return AuditStatus(False, 0, "no events stored")
    if report.first_break is not None:
        brk = report.first_break
        return AuditStatus(
            False, report.events, f"broken at version {brk.stream_version}: {brk.reason}"
        )
    return AuditStatus(True, report.events, f"hash chain intact over {report.events} events")


def _step_inputs(events: Sequence[EventEnvelope]) -> dict[str, Any]:
    """The input of each step's last tool call (the args with references resolved)."""
    inputs: dict[str, Any] = {}
    for event in events:
        payload = event.payload
        if isinstance(payload, ToolExecuted) and payload.step_id:
            inputs[payload.step_id] = payload.input
    return inputs


def goal_detail(
    store: EventStore, tenant_id: str, goal_id: str, *, audit: bool = True
) -> GoalDetail | None:
    """Everything the goal page shows; None when the tenant has no such goal."""
    events = read_goal(store, tenant_id, goal_id)
    if not events:
        return None
    state = project_goal(events, goal_id)
    by_id = {s.step_id: s for s in state.steps}
    inputs = _step_inputs(events)
    steps = []
    for planned in state.plan:
        step_id = planned.id
        known = by_id.get(step_id)
        steps.append(
            StepView(
                step_id=step_id,
                tool_name=planned.tool,
                status=known.status if known else "pending",
                depends_on=tuple(planned.depends_on),
                input=inputs.get(step_id, planned.args),
                output=known.result if known else None,
                attempts=known.attempts if known else 0,
                duration_ms=known.duration_ms if known else 0.0,
                error=known.error if known else None,
                decided_by=known.approval_decided_by if known else None,
            )
        )
    statuses = {s.step_id: s.status for s in steps}
    made = _plan_event(events)
    return GoalDetail(
        cache_entry_id=(
            made.cache.entry_id
            if made is not None and made.source == "cache" and made.cache is not None
            else None
        ),
        summary=summarize(state, events),
        state=state,
        steps=tuple(steps),
        dag=layout_dag(dag_steps(state.plan, statuses)),
        timeline=tuple(timeline_entry(e) for e in events),
        trace_id=next(
            (
                e.payload.model_dump().get("trace_id")
                for e in events
                if e.event_type == "GoalReceived"
            ),
            None,
        ),
        audit=audit_goal(
            store, tenant_id, goal_id, span=(events[0].global_position, events[-1].global_position)
        )
        if audit
        else AuditStatus(False, 0, ""),
    )


def pending_approvals(
    store: EventStore, tenant_id: str, goal_ids: Iterable[str]
) -> list[PendingApproval]:
    """Steps of ``goal_ids`` that wait for a decision, oldest request first."""
    found: list[PendingApproval] = []
    for goal_id in goal_ids:
        events = read_goal(store, tenant_id, goal_id)
        if not events:
            continue
        state = project_goal(events, goal_id)
        waiting = {s.step_id for s in state.steps if s.status == "awaiting_approval"}
        requests: dict[str, PendingApproval] = {}
        for event in events:
            payload = event.payload
            if isinstance(payload, ApprovalRequested) and payload.step_id in waiting:
                requests[payload.step_id] = PendingApproval(
                    goal_id=goal_id,
                    goal=state.goal or "",
                    step_id=payload.step_id,
                    tool_name=payload.tool_name,
                    args=payload.args,
                    risk_lane=payload.risk_lane,
                    requested_at=event.occurred_at,
                )
        found.extend(requests.values())
    return sorted(found, key=lambda a: a.requested_at)


def _plan_records(events: Iterable[EventEnvelope]) -> Iterator[PlanRecord]:
    for event in events:
        payload = event.payload
        if not isinstance(payload, PlanGenerated):
            continue
        cache = payload.cache
        saved_tokens = _extra(cache, "saved_tokens")
        saved_cost = _extra(cache, "saved_cost")
        reason = _extra(cache, "reason") or _extra(cache, "miss_reason")
        yield PlanRecord(
            at=event.occurred_at,
            source=payload.source,
            template=cache.template if cache else None,
            tokens_spent=payload.token_usage.total_tokens if payload.token_usage else 0,
            tokens_saved=int(saved_tokens) if isinstance(saved_tokens, (int, float)) else 0,
            cost_saved=float(saved_cost) if isinstance(saved_cost, (int, float)) else 0.0,
            miss_reason=str(reason) if reason and payload.source != "cache" else None,
        )


def tenant_events(store: EventStore, tenant_id: str, batch: int = 1000) -> Iterator[EventEnvelope]:
    """Every event of the tenant, in global order, read in batches."""
    position = 0
    while True:
        page = store.read_all(tenant_id, position, batch)
        yield from page
        if len(page) < batch:
            return
        position = page[-1].global_position


def cache_report(
    store: EventStore, tenant_id: str, *, buckets: int = 24, now: datetime | None = None
) -> CacheReport:
    """Hit rate over time, misses by reason, tokens and cost, top templates: from the plans
    the tenant's goals were given (a plan from the cache is a hit, any other a miss)."""
    report = CacheReport()
    records = list(_plan_records(tenant_events(store, tenant_id)))
    for record in records:
        report.plans += 1
        report.by_source[record.source] += 1
        if record.source == "cache":
            report.hits += 1
            if record.template:
                report.templates[record.template] += 1
        elif record.miss_reason:
            report.miss_reasons[record.miss_reason] += 1
        report.tokens_spent += record.tokens_spent
        report.tokens_saved += record.tokens_saved
        report.cost_saved += record.cost_saved
    report.series = hit_rate_series(records, buckets, now or datetime.now(UTC))
    return report


def hit_rate_series(
    records: Sequence[PlanRecord], buckets: int, now: datetime
) -> list[tuple[int, float, int]]:
    """Hit rate per time bucket, from the first plan to ``now``, in up to ``buckets`` equal
    spans of at least a minute (empty spans are left out rather than drawn as a zero rate)."""
    if not records or buckets < 1:
        return []
    start = min(r.at for r in records).timestamp()
    end = max(now.timestamp(), max(r.at for r in records).timestamp()) + 1
    width = max(MIN_BUCKET_S, (end - start) / buckets)
    buckets = min(buckets, int((end - start) // width) + 1)
    hits = [0] * buckets
    totals = [0] * buckets
    for record in records:
        index = min(buckets - 1, int((record.at.timestamp() - start) / width))
        totals[index] += 1
        hits[index] += record.source == "cache"
    return [
        (int(start + i * width), round(hits[i] / totals[i], 4), totals[i])
        for i in range(buckets)
        if totals[i]
    ]
