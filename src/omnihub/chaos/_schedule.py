"""What a chaos run will do, drawn from its seed alone: the goals (kind and plan) and the
faults (which kill, at what point of the run's progress). The same seed gives the same
schedule; when each fault lands in wall-clock time depends on the machine."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from omnihub.plans import Plan, PlanStep

GoalKind = Literal["complete", "fail_late", "approve", "reject", "cancel", "planned"]
# When a planner-made goal plans, around the run's first Redis kill: before it (the cache
# serves hits), while Redis is down (lookups degrade to misses) or after its restart (the
# cache comes back: hits again once the first goal after it stored its plan).
CachePhase = Literal["before", "during", "after"]
KillKind = Literal["worker", "temporal", "postgres", "redis"]
# Where a worker kill aims: a step between its commit and its completion, a compensation,
# or whichever worker comes first.
WorkerTarget = Literal["after_commit", "during_compensation", "random"]
TOOL_FAULTS = ("retryable", "non_retryable", "timeout", "slow")
_KINDS: list[tuple[GoalKind, float]] = [
    ("complete", 0.4),
    ("fail_late", 0.2),
    ("approve", 0.1),
    ("reject", 0.1),
    ("cancel", 0.2),
]
_LINGER_S = 0.8


@dataclass(frozen=True)
class GoalPlan:
    index: int
    goal_id: str
    kind: GoalKind
    plan: Plan | None
    # The step whose completion triggers the cancel (cancel goals).
    cancel_after: str | None = None
    tool_faults: dict[str, int] = field(default_factory=dict)
    # Planner-made goals only (``plan`` is None): the goal's text and its cache phase.
    goal_text: str | None = None
    cache_phase: CachePhase | None = None

    @property
    def text(self) -> str:
        return self.goal_text or f"chaos goal {self.index} ({self.kind})"


@dataclass(frozen=True)
class Kill:
    kind: KillKind
    # The fraction of goals ended after which the kill fires.
    at_progress: float
    target: WorkerTarget = "random"


@dataclass(frozen=True)
class Schedule:
    seed: int
    goals: list[GoalPlan]
    kills: list[Kill]
    tool_faults: dict[str, int] = field(default_factory=dict)


class _Builder:
    """One goal's chain of steps; before each effect, a tool fault with the run's rate."""

    def __init__(self, rng: random.Random, fault_rate: float, http_url: str) -> None:
        self.rng = rng
        self.fault_rate = fault_rate
        self.http_url = http_url
        self.steps: list[PlanStep] = []
        self.planned: dict[str, int] = {}

    def add(self, tool: str, make_args: Callable[[str], dict[str, Any]]) -> str:
        if self.rng.random() < self.fault_rate:
            kind = self.rng.choice(TOOL_FAULTS)
            self.planned[kind] = self.planned.get(kind, 0) + 1
            self.step("chaos_fault", {"kind": kind, "seconds": 2.0})
        return self.step(tool, make_args(f"s{len(self.steps)}"))

    def step(self, tool: str, args: dict[str, Any]) -> str:
        step_id = f"s{len(self.steps)}"
        after = [self.steps[-1].id] if self.steps else []
        self.steps.append(PlanStep(id=step_id, tool=tool, args=args, depends_on=after))
        return step_id

    def reserve(self, *, release_failures: int = 0) -> str:
        args = {"linger_s": _LINGER_S, "release_failures": release_failures}
        return self.add("chaos_reserve", lambda _: args)

    def write(self, goal_id: str) -> str:
        return self.add(
            "database_write",
            lambda step: {
                "table": "chaos_effects",
                "values": {"goal": goal_id, "step": step, "tool": "database_write"},
            },
        )

    def http(self, goal_id: str) -> str:
        return self.add(
            "http_request",
            lambda step: {"url": self.http_url, "json_body": {"goal": goal_id, "step": step}},
        )

    def email(self, goal_id: str) -> str:
        return self.add(
            "send_email",
            lambda step: {"to": ["ops@example.test"], "subject": f"{goal_id}/{step}", "body": "."},
        )


def _goal(index: int, rng: random.Random, fault_rate: float, http_url: str) -> GoalPlan:
    kind: GoalKind = rng.choices([k for k, _ in _KINDS], [w for _, w in _KINDS])[0]
    goal_id = f"chaos-{index:05d}"
    b = _Builder(rng, fault_rate, http_url)
    cancel_after = None
    b.reserve()
    b.write(goal_id)
    if kind == "complete":
        b.http(goal_id)
        b.reserve()
        b.email(goal_id)
    elif kind == "fail_late":
        b.reserve(release_failures=2)
        b.http(goal_id)
        b.step("chaos_fault", {"kind": "non_retryable"})
    elif kind == "approve":
        b.step("chaos_gate", {"reason": "approve me"})
        b.reserve()
    elif kind == "reject":
        b.reserve()
        b.step("chaos_gate", {"reason": "reject me"})
        b.reserve()
    else:  # cancel: stop while a slow step runs, after two effects
        cancel_after = b.reserve(release_failures=rng.choice([0, 2]))
        b.step("chaos_fault", {"kind": "slow", "seconds": 3.0})
        b.reserve()
    plan = Plan(steps=b.steps, reasoning=f"chaos goal {index}: {kind}")
    return GoalPlan(index, goal_id, kind, plan, cancel_after, b.planned)


def make_schedule(
    seed: int,
    goals: int,
    *,
    fault_rate: float,
    http_url: str,
    kill_workers: int = 0,
    kill_temporal: int = 0,
    restart_postgres: int = 0,
    kill_redis: int = 0,
) -> Schedule:
    """The goals and the kills of a run with ``seed``. With a Redis kill, some goals are
    planner-made (see :data:`CachePhase`): a few of the first goals plan before the kill,
    and the last :data:`PHASE_GOALS` plan during the outage and after the restart."""
    rng = random.Random(seed)
    made = [_goal(index, rng, fault_rate, http_url) for index in range(goals)]
    if kill_redis:
        made = _with_planned_goals(made)
    planned: dict[str, int] = {}
    for goal in made:
        for kind, n in goal.tool_faults.items():
            planned[kind] = planned.get(kind, 0) + n
    targets: list[WorkerTarget] = ["after_commit", "during_compensation", "random"]
    kills = [
        Kill("worker", rng.uniform(0.1, 0.8), targets[n % len(targets)])
        for n in range(kill_workers)
    ]
    kills += [Kill("temporal", rng.uniform(0.2, 0.7)) for _ in range(kill_temporal)]
    kills += [Kill("postgres", rng.uniform(0.2, 0.7)) for _ in range(restart_postgres)]
    kills += [Kill("redis", rng.uniform(0.2, 0.7)) for _ in range(kill_redis)]
    kills.sort(key=lambda k: k.at_progress)
    return Schedule(seed, made, kills, planned)


#: Planner-made goals that plan while Redis is down, then after its restart.
DURING_GOALS = 2
AFTER_GOALS = 3
PHASE_GOALS = DURING_GOALS + AFTER_GOALS


def _planned(index: int, phase: CachePhase) -> GoalPlan:
    text = f"Hold two chaos reservations for holder{index}@example.test"
    return GoalPlan(index, f"chaos-{index:05d}", "planned", None, goal_text=text, cache_phase=phase)


def _with_planned_goals(made: list[GoalPlan]) -> list[GoalPlan]:
    """Every fifth of the first goals (at least three) plans before the Redis kill; the
    last goals plan during the outage and after the restart (the driver holds them back)."""
    total = len(made)
    before = list(range(0, max(total - PHASE_GOALS, 0), 5))[: max(3, total // 50)]
    out = list(made)
    for i in before:
        out[i] = _planned(i, "before")
    for n, i in enumerate(range(max(total - PHASE_GOALS, 0), total)):
        out[i] = _planned(i, "during" if n < DURING_GOALS else "after")
    return out
