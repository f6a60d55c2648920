"""``check_deployment``: every invariant of every goal of a deployment, in one report.

It reads the event store, the idempotency ledger beside it and, when Temporal can be reached,
each non-terminal goal's workflow; an unreachable Temporal makes those goals "unverified",
never silently fine.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from omnihub.audit._invariants import (
    GoalFacts,
    LedgerRow,
    Violation,
    check_goal,
    goal_facts,
)
from omnihub.errors import StoreError
from omnihub.events import EventStore, project_goal, verify_store
from omnihub.tools import SqlDatabase

LEDGER_TABLE = "omnihub_idempotency"
# A projection and a workflow are read at different moments: a step's events are appended
# before its activity returns, so the store may be briefly ahead. A disagreement counts only
# when it survives this many looks, this far apart.
_LOOKS = 3
_LOOK_INTERVAL_S = 0.5


class WorkflowView(Protocol):
    """What the checker asks Temporal about one goal (see :class:`TemporalWorkflows`)."""

    async def status(self, tenant_id: str, goal_id: str) -> str | None:
        """The workflow's status name (``RUNNING``, ``COMPLETED`` …), None when unknown."""
        ...

    async def state(self, tenant_id: str, goal_id: str) -> dict[str, Any]:
        """The workflow's queried state (``SagaState`` as JSON)."""
        ...


@dataclass
class AuditReport:
    """The outcome of :func:`check_deployment`."""

    goals: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    running_verified: int = 0
    unverified: list[str] = field(default_factory=list)
    temporal: str = "unreachable"
    streams: int = 0
    events: int = 0
    chain_intact: bool = True
    ledger_rows: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def first_violation(self) -> Violation | None:
        return self.violations[0] if self.violations else None

    def count(self, invariant: str) -> int:
        return sum(1 for v in self.violations if v.invariant == invariant)

    def to_json(self) -> dict[str, Any]:
        by_invariant = Counter(v.invariant for v in self.violations)
        first = self.first_violation
        return {
            "ok": self.ok,
            "goals": self.goals,
            "statuses": dict(sorted(self.statuses.items())),
            "running_verified": self.running_verified,
            "unverified": self.unverified,
            "temporal": self.temporal,
            "streams": self.streams,
            "events": self.events,
            "chain_intact": self.chain_intact,
            "ledger_rows": self.ledger_rows,
            "violations": dict(sorted(by_invariant.items())),
            "first_violation": None
            if first is None
            else {
                "tenant_id": first.tenant_id,
                "goal_id": first.goal_id,
                "invariant": first.invariant,
                "detail": first.detail,
            },
            "details": [str(v) for v in self.violations[:100]],
        }


def read_ledger(database: SqlDatabase) -> list[LedgerRow]:
    """Every row of the idempotency ledger; none when the table was never created (a store
    whose goals had no side effect). Read-only: the checker never creates the table."""
    try:
        with database.transaction() as cursor:
            cursor.execute(f"SELECT key, tenant_id, tool FROM {LEDGER_TABLE}")
            rows = cursor.fetchall()
    except StoreError as exc:
        text = str(exc).lower()
        if "no such table" in text or "does not exist" in text:
            return []
        raise
    return [LedgerRow(str(r["key"]), str(r["tenant_id"]), str(r["tool"])) for r in rows]


def _live_problem(facts: GoalFacts, status: str | None) -> str | None:
    if status == "RUNNING":
        return None
    found = "no workflow" if status is None else f"its workflow is {status}"
    return f"the goal is {facts.status}, not terminal, and {found}"


def _disagreement(store: EventStore, facts: GoalFacts, live: dict[str, Any]) -> str | None:
    """Where the workflow's queried state and the store's projection disagree, if anywhere."""
    projected = project_goal(store.read_stream(facts.tenant_id, facts.goal_id), facts.goal_id)
    if projected.status in ("completed", "failed", "cancelled"):
        return None  # ended between the two reads; the terminal checks cover it
    steps = {s.step_id: s.status for s in projected.steps}
    done = {"completed", "compensated", "compensation_failed"}
    for step in live.get("completed_steps", []):
        if steps.get(step) not in done:
            return f"the workflow completed step {step!r}; the store says {steps.get(step)}"
    for entry in live.get("compensation_stack", []):
        step = entry.get("step_id")
        if steps.get(step) not in done:
            return f"step {step!r} is on the compensation stack; the store says {steps.get(step)}"
    for pending in live.get("pending_approvals", []):
        step = pending.get("step_id")
        if steps.get(step) != "awaiting_approval":
            return f"step {step!r} awaits approval; the store says {steps.get(step)}"
    if bool(live.get("paused")) != projected.paused:
        return f"the workflow's paused={live.get('paused')}, the store's {projected.paused}"
    return None


async def _check_live(
    store: EventStore, facts: GoalFacts, workflows: WorkflowView
) -> tuple[Violation | None, bool]:
    """(a violation or None, whether the goal turned out terminal meanwhile)."""
    problem: str | None = None
    for look in range(_LOOKS):
        if look:
            await asyncio.sleep(_LOOK_INTERVAL_S)
        events = await asyncio.to_thread(store.read_stream, facts.tenant_id, facts.goal_id)
        fresh = goal_facts(facts.tenant_id, facts.goal_id, events)
        if fresh.terminal:
            return None, True
        status = await workflows.status(facts.tenant_id, facts.goal_id)
        problem = _live_problem(fresh, status)
        if problem is None:
            live = await workflows.state(facts.tenant_id, facts.goal_id)
            problem = await asyncio.to_thread(_disagreement, store, fresh, live)
            kind = "projection"
        else:
            kind = "terminal"
        if problem is None:
            return None, False
    assert problem is not None
    return Violation(facts.tenant_id, facts.goal_id, kind, problem), False


async def check_deployment(
    store: EventStore,
    ledger_database: SqlDatabase | None,
    *,
    tenant_id: str | None = None,
    workflows: WorkflowView | None = None,
    temporal_note: str = "unreachable",
) -> AuditReport:
    """Check every goal of ``tenant_id`` (or of every tenant): the chains and stream
    versions, each goal's events against its ledger rows, and (with ``workflows``) each
    non-terminal goal against its live workflow. Violations come in store order of goals."""
    report = AuditReport(temporal="reachable" if workflows is not None else temporal_note)
    chains = await asyncio.to_thread(verify_store, store, tenant_id)
    report.streams, report.events = chains.streams, chains.events
    report.chain_intact = chains.ok
    if chains.first_break is not None:
        brk = chains.first_break
        report.violations.append(Violation(brk.tenant_id, brk.stream_id, "chain", str(brk)))
    ledger = await asyncio.to_thread(read_ledger, ledger_database) if ledger_database else []
    by_goal: dict[tuple[str, str], list[LedgerRow]] = defaultdict(list)
    for row in ledger:
        parts = row.parts
        if parts is not None and (tenant_id is None or parts[0] == tenant_id):
            by_goal[(parts[0], parts[1])].append(row)
    report.ledger_rows = sum(len(rows) for rows in by_goal.values())
    tenants = [tenant_id] if tenant_id is not None else store.list_tenants()
    statuses: Counter[str] = Counter()
    for tenant in tenants:
        for stream in await asyncio.to_thread(store.list_streams, tenant):
            events = await asyncio.to_thread(store.read_stream, tenant, stream)
            facts = goal_facts(tenant, stream, events)
            if not facts.is_goal:
                continue
            report.goals += 1
            rows = by_goal.pop((tenant, stream), [])
            if not facts.terminal:
                if workflows is None:
                    report.unverified.append(f"{tenant}/{stream}")
                else:
                    violation, ended = await _check_live(store, facts, workflows)
                    if ended:
                        events = await asyncio.to_thread(store.read_stream, tenant, stream)
                        facts = goal_facts(tenant, stream, events)
                    elif violation is None:
                        report.running_verified += 1
                    else:
                        report.violations.append(violation)
            statuses[facts.status] += 1
            report.violations.extend(check_goal(facts, rows))
    for (tenant, goal), rows in sorted(by_goal.items()):
        keys = sorted(row.key for row in rows)
        report.violations.append(
            Violation(
                tenant, goal, "orphan_effect", f"ledger rows {keys} for a goal with no events"
            )
        )
    report.statuses = dict(statuses)
    return report
