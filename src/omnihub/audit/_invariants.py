"""The invariants of one goal, checked from its stored events and its idempotency-ledger rows.

Pure functions over what the store and the ledger hold; nothing here talks to Temporal (see
:mod:`omnihub.audit._check` for the live part: is a non-terminal goal's workflow running, and
does its queried state agree with the projection).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from omnihub.events import EventEnvelope
from omnihub.events import _payloads as p

TERMINAL = frozenset({"completed", "failed", "cancelled"})

# The names of the invariants, in the order they are checked for each goal.
INVARIANTS = (
    "terminal",
    "single_completion",
    "compensated_once",
    "missing_compensation",
    "compensation_failed",
    "lifo",
    "orphan_effect",
    "ledger_duplicate",
    "chain",
    "projection",
)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant of one goal (or stream), with what the operator needs to look at."""

    tenant_id: str
    goal_id: str
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"goal {self.goal_id!r} (tenant {self.tenant_id!r}): {self.invariant}: {self.detail}"


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One idempotency-ledger row: ``key`` is ``tenant/goal/step/kind`` (see
    :func:`omnihub.tools.idempotency_key`)."""

    key: str
    tenant_id: str
    tool: str

    @property
    def parts(self) -> tuple[str, str, str, str] | None:
        """(tenant, goal, step, kind), or None when the key is not a step's key."""
        tenant, sep, rest = self.key.partition("/")
        rest, sep2, kind = rest.rpartition("/")
        goal, sep3, step = rest.rpartition("/")
        if not (sep and sep2 and sep3) or kind not in ("do", "undo"):
            return None
        return tenant, goal, step, kind


@dataclass
class GoalFacts:
    """What one goal's events say, in the store's order."""

    tenant_id: str
    goal_id: str
    status: str = "new"
    compensable: dict[str, str | None] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    compensations: list[tuple[str, str]] = field(default_factory=list)  # (step, executed|failed)
    is_goal: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def goal_facts(tenant_id: str, goal_id: str, events: Iterable[EventEnvelope]) -> GoalFacts:
    """Fold a stream's events (in stream order) into the facts the invariants need."""
    facts = GoalFacts(tenant_id, goal_id)
    for event in events:
        payload = event.payload
        if isinstance(payload, p.GoalReceived):
            facts.is_goal = True
            facts.status = "received"
        elif isinstance(payload, p.PlanGenerated):
            facts.compensable = {s.id: payload.compensations.get(s.id) for s in payload.steps}
            facts.status = "running"
        elif isinstance(payload, p.StepCompleted):
            facts.completed.append(payload.step_id)
        elif isinstance(payload, p.CompensationExecuted):
            facts.compensations.append((payload.step_id, "executed"))
        elif isinstance(payload, p.CompensationFailed):
            facts.compensations.append((payload.step_id, "failed"))
        elif isinstance(payload, p.GoalCompleted):
            facts.status = "completed"
        elif isinstance(payload, p.GoalFailed):
            facts.status = "failed"
        elif isinstance(payload, p.GoalCancelled):
            facts.status = "cancelled"
    return facts


def check_goal(facts: GoalFacts, ledger: Sequence[LedgerRow] = ()) -> list[Violation]:
    """Every invariant of a goal that its events and ledger rows alone can decide.

    ``ledger`` holds the rows whose key names this goal. Whether a non-terminal goal still has
    a live workflow is decided by the caller, which can ask Temporal.
    """
    found: list[Violation] = []

    def broken(invariant: str, detail: str) -> None:
        found.append(Violation(facts.tenant_id, facts.goal_id, invariant, detail))

    completed = Counter(facts.completed)
    for step, n in sorted(completed.items()):
        if n > 1:
            broken("single_completion", f"step {step!r} completed {n} times")
    undone = Counter(step for step, _ in facts.compensations)
    for step, n in sorted(undone.items()):
        if n > 1:
            broken("compensated_once", f"step {step!r} compensated {n} times")
        if step not in completed:
            broken("compensated_once", f"step {step!r} compensated but never completed")
    # Steps with an undo that completed, in the order the store recorded their completion.
    pushed = [s for s in dict.fromkeys(facts.completed) if facts.compensable.get(s)]
    if facts.status == "completed" and facts.compensations:
        broken("compensated_once", "the goal completed but recorded compensations")
    if facts.status in ("failed", "cancelled"):
        missing = [s for s in pushed if s not in undone]
        if missing:
            broken(
                "missing_compensation",
                f"the goal {facts.status} without compensating completed step(s) {missing}",
            )
        failed = [step for step, how in facts.compensations if how == "failed"]
        if failed:
            broken("compensation_failed", f"compensation of step(s) {failed} failed for good")
        order = [step for step, _ in facts.compensations]
        expected = [s for s in reversed(pushed) if s in undone]
        if order != expected:
            broken(
                "lifo",
                f"compensated in order {order}, expected {expected} "
                "(the reverse of the store's order of completion)",
            )
    for violation in check_ledger(facts, ledger):
        found.append(violation)
    return found


def check_ledger(facts: GoalFacts, ledger: Sequence[LedgerRow]) -> list[Violation]:
    """The goal's ledger rows against its events: each (step, do|undo) recorded at most once;
    in a terminal goal, every recorded effect belongs to a completed step and every recorded
    undo to a recorded compensation."""
    found: list[Violation] = []
    counts: Counter[tuple[str, str]] = Counter()
    for row in ledger:
        parts = row.parts
        if parts is not None:
            counts[(parts[2], parts[3])] += 1
    for (step, kind), n in sorted(counts.items()):
        if n > 1:
            found.append(
                Violation(
                    facts.tenant_id,
                    facts.goal_id,
                    "ledger_duplicate",
                    f"step {step!r} {kind} recorded {n} times in the idempotency ledger",
                )
            )
    if not facts.terminal:
        return found  # effects of a running goal may be ahead of its events
    undone = {step for step, _ in facts.compensations}
    for step, kind in sorted(counts):
        if kind == "do" and step not in facts.completed:
            detail = f"step {step!r} has an effect in the ledger but never completed"
        elif kind == "undo" and step not in undone:
            detail = f"step {step!r} was undone in the ledger but no compensation was recorded"
        else:
            continue
        found.append(Violation(facts.tenant_id, facts.goal_id, "orphan_effect", detail))
    return found
