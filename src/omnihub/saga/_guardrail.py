"""The guard inside the saga's activities: a plan checked when it is made, each step just
before its tool runs.

The step check reads what it needs from the goal's own stream (the goal text, context and user
from GoalReceived, the plan from PlanGenerated, the grants from ApprovalGranted), so the
workflow passes nothing new: what the step is decided on is what was recorded. Each goal's
stream is read incrementally and the state kept for a bounded number of goals.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from omnihub.errors import IntegrityError
from omnihub.events import (
    ApprovalGranted,
    EventStore,
    GoalReceived,
    PlanGenerated,
)
from omnihub.guard import Guard, PlanCheck, PlanOrigin, Principal, StepCheck
from omnihub.plans import Plan
from omnihub.saga._approvals import args_hash

#: How many goals' streams a worker keeps decoded for step checks.
_GOALS_KEPT = 1024


def principal_for(
    tenant_id: str, user_id: str, submitter_id: str | None = None, role: str = "operator"
) -> Principal:
    """Who a goal acts for: the API key that submitted it, with its role, when the goal was
    submitted through the API or the console; else (the local CLI, programs) the goal's user
    as an operator."""
    if submitter_id:
        return Principal(id=submitter_id, tenant=tenant_id, role=role, kind="ApiKey")
    return Principal(id=user_id or "anonymous", tenant=tenant_id, role=role)


@dataclass
class _GoalState:
    version: int = 0
    origin: PlanOrigin | None = None
    user_id: str = ""
    submitter_id: str | None = None
    submitter_role: str = "operator"
    plan: Plan | None = None
    grants: set[tuple[str, str, str]] = field(default_factory=set)


class SagaGuard:
    """Decides a goal's plan and steps against its tenant's policies."""

    def __init__(self, guard: Guard, store: EventStore) -> None:
        self.guard = guard
        self.store = store
        self._lock = threading.Lock()
        self._goals: OrderedDict[tuple[str, str], _GoalState] = OrderedDict()

    def check_plan(
        self,
        *,
        tenant_id: str,
        user_id: str,
        goal: str,
        context: dict[str, Any],
        plan: Plan,
        submitter_id: str | None = None,
        submitter_role: str = "operator",
        outside_texts: list[str] | None = None,
    ) -> PlanCheck:
        origin = PlanOrigin(goal=goal, context=context, outside_texts=tuple(outside_texts or ()))
        principal = principal_for(tenant_id, user_id, submitter_id, submitter_role)
        return self.guard.check_plan(principal, plan, origin)

    def _state(self, tenant_id: str, goal_id: str) -> _GoalState:
        key = (tenant_id, goal_id)
        with self._lock:
            state = self._goals.pop(key, None) or _GoalState()
            self._goals[key] = state
            while len(self._goals) > _GOALS_KEPT:
                self._goals.popitem(last=False)
        for envelope in self.store.read_stream(tenant_id, goal_id, from_version=state.version + 1):
            payload = envelope.payload
            if isinstance(payload, GoalReceived):
                state.origin = PlanOrigin(goal=payload.goal, context=dict(payload.context))
                state.user_id = payload.user_id
                state.submitter_id = payload.submitter_id
                state.submitter_role = payload.submitter_role
            elif isinstance(payload, PlanGenerated):
                # PlanGenerated v3 (contracts2): its steps are plans.PlanStep already.
                state.plan = Plan(steps=payload.steps, reasoning=payload.reasoning)
                if payload.outside_texts and state.origin is not None:
                    # The planner read outside text: its plan is tainted (values and tools).
                    state.origin = replace(state.origin, outside_texts=tuple(payload.outside_texts))
            elif isinstance(payload, ApprovalGranted) and payload.tool_name and payload.args_hash:
                state.grants.add((payload.step_id, payload.tool_name, payload.args_hash))
            state.version = envelope.stream_version
        return state

    def check_step(
        self, *, tenant_id: str, goal_id: str, step_id: str, tool: str, args: dict[str, Any]
    ) -> StepCheck:
        """Decide one step with its resolved arguments (blocking I/O: run it in a thread).

        A step counts as approved when a person approved exactly this step, tool and these
        arguments; earlier steps count as approved when any grant names them (they ran on it).
        """
        state = self._state(tenant_id, goal_id)
        if state.origin is None or state.plan is None:
            raise IntegrityError(f"goal {goal_id}: no GoalReceived or PlanGenerated to check on")
        digest = args_hash(args)
        approved = {s for s, _, _ in state.grants if s != step_id}
        if (step_id, tool, digest) in state.grants:
            approved.add(step_id)
        return self.guard.check_step(
            principal_for(tenant_id, state.user_id, state.submitter_id, state.submitter_role),
            state.plan,
            state.origin,
            step_id,
            args,
            approved_steps=approved,
        )
