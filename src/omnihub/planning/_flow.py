"""The planning flow: cache first, the planner on a miss, budgets, ledger, PlanGenerated data.

goal → plan cache lookup → (miss) budget check → planner (validate / repair) → cache store →
an outcome whose :meth:`PlanningOutcome.event_payload` is the PlanGenerated event's data.

With a :class:`~omnihub.guard.Guard`, the tenant's policy takes part when the plan is made:
the planner is offered only tools the policy could permit, a plan with a forbidden step earns
the planner ONE repair message (:meth:`~omnihub.guard.PlanCheck.repair_message`), and a plan
still forbidden after it fails with :class:`~omnihub.errors.PolicyDeniedError` (the saga then
fails the goal with the reason). A cached plan the policy forbids now is not served.

The cache (embedding, SQLite or Redis) and the ledger are synchronous: the flow runs them in a
thread (:func:`asyncio.to_thread`), so a lookup never stalls the worker's event loop and the
heartbeats of the other activities on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from omnihub.errors import BudgetExceededError
from omnihub.guard import Guard, PlanCheck, PlanOrigin, Principal
from omnihub.planning._budget import BudgetPolicy
from omnihub.planning._ledger import LedgerEntry, UsageLedger
from omnihub.planning._planner import LLMCall, Planner, PlannerResult, PlanRequest
from omnihub.planning._prompt import output_text
from omnihub.planning._types import PlanSource, Usage
from omnihub.plans import Plan

logger = logging.getLogger(__name__)

#: Receives events the flow itself raises (``BudgetExceeded``): type name and payload.
EventSink = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class CachedPlan:
    """A plan cache hit: the injected plan and what the original planning cost."""

    plan: Plan
    usage: Usage
    details: dict[str, Any] = field(default_factory=dict)


class PlanStore(Protocol):
    """What the flow needs from the plan cache (adapted from :mod:`omnihub.cache`)."""

    def lookup(self, request: PlanRequest) -> CachedPlan | None:
        """A plan for an equivalent earlier goal of the same tenant, or None on a miss."""

    def store(self, request: PlanRequest, result: PlannerResult) -> None:
        """Remember a freshly made plan with its usage, for later hits."""

    def demote(self, tenant: str, entry_id: str, cause: str) -> Any:
        """A goal the entry planned failed because of the plan (evicted after N failures)."""

    def close(self) -> None:
        """Release the index."""


@dataclass(frozen=True)
class PlanningOutcome:
    """A validated plan for a goal, where it came from, and what it cost."""

    plan_id: str
    plan: Plan
    source: PlanSource
    usage: Usage
    latency_ms: float
    attempts: int = 0
    playbook: str | None = None
    cache: dict[str, Any] | None = None

    def steps_json(self) -> list[dict[str, Any]]:
        return [step.model_dump(mode="json") for step in self.plan.steps]

    def event_payload(self) -> dict[str, Any]:
        """The PlanGenerated event's data (:class:`omnihub.events.PlanGenerated`).

        Cost and latency are in the usage ledger too (``usage.cost``, ``latency_ms``).
        """
        token_usage = None
        if self.source == "llm":
            token_usage = {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "total_tokens": self.usage.total_tokens,
            }
        return {
            "plan_id": self.plan_id,
            "steps": self.steps_json(),
            "reasoning": self.plan.reasoning,
            "source": self.source,
            "model": self.usage.model,
            "token_usage": token_usage,
            "cache": self.cache if self.source == "cache" else None,
            "cost": self.usage.cost,
            "latency_ms": round(self.latency_ms, 3),
        }

    def cli_json(self) -> dict[str, Any]:
        """What ``omnihub plan --json`` prints."""
        return {"plan": self.steps_json(), "source": self.source, "usage": self.usage.as_dict()}


def plan_id_for(request: PlanRequest, plan: Plan) -> str:
    """Deterministic for a goal id (a retried activity yields the same id), else random."""
    if request.goal_id is None:
        return uuid.uuid4().hex
    digest = hashlib.sha256(
        json.dumps(plan.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    return uuid.uuid5(uuid.NAMESPACE_URL, f"omnihub:{request.goal_id}:{digest}").hex


class PlanningService:
    """Runs the planning flow for goals; build one per process and reuse it.

    Only LLM planning spends budget: a cache hit or a playbook plan is never blocked.
    """

    def __init__(
        self,
        planner: Planner,
        *,
        ledger: UsageLedger | None = None,
        cache: PlanStore | None = None,
        budgets: BudgetPolicy | None = None,
        events: EventSink | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.planner = planner
        self.ledger = ledger
        self.cache = cache
        self.budgets = budgets or BudgetPolicy()
        self.events = events
        self.guard = guard

    async def aclose(self) -> None:
        await self.planner.aclose()
        if self.cache is not None:
            await asyncio.to_thread(self.cache.close)
        if self.ledger is not None:
            await asyncio.to_thread(self.ledger.close)

    def _emit(self, event_type: str, payload: dict[str, Any]) -> None:
        if self.events is not None:
            self.events(event_type, payload)

    def _record_calls(self, request: PlanRequest, calls: list[LLMCall]) -> None:
        for call in calls:
            self._record_call(request, call)

    def _record_call(self, request: PlanRequest, call: LLMCall) -> None:
        if self.ledger is None:
            return
        self.ledger.record(
            LedgerEntry(
                tenant=request.tenant,
                kind="llm_call",
                model=call.model,
                provider=call.provider,
                prompt_tokens=call.prompt_tokens,
                completion_tokens=call.completion_tokens,
                cost=call.cost,
                latency_ms=call.latency_ms,
                goal_id=request.goal_id,
                at=request.now,
            )
        )

    def _check_budget(self, request: PlanRequest, approved: bool) -> None:
        if self.ledger is None or self.planner.source != "llm":
            return
        verdict = self.budgets.check(self.ledger, request.tenant, request.now)
        if verdict is None or (approved and verdict.action == "hold"):
            return
        payload = verdict.payload() | {"goal_id": request.goal_id}
        self._emit("BudgetExceeded", payload)
        raise BudgetExceededError(verdict.reason, verdict.tenant, verdict.action)

    async def plan_goal(
        self, request: PlanRequest, *, budget_approved: bool = False
    ) -> PlanningOutcome:
        """Plan one goal: a cache hit, else the planner (after the budget check).

        ``budget_approved`` lets a goal that was held for approval go ahead once a person
        approved it. Raises a PlanningError subclass when no valid plan can be made.
        """
        started = time.perf_counter()
        gate = _PolicyGate(self.guard, request) if self.guard is not None else None
        if gate is not None:
            request = await gate.prepare()
        if self.cache is not None:
            hit = await asyncio.to_thread(self.cache.lookup, request)
            if hit is not None and (gate is None or not (await gate.check(hit.plan)).forbidden):
                return await asyncio.to_thread(self._from_cache, request, hit, started)
        await asyncio.to_thread(self._check_budget, request, budget_approved)
        # The planner reports each model call synchronously; they are written to the ledger
        # off the loop once it returns (or fails: a failed attempt still cost tokens).
        calls: list[LLMCall] = []
        try:
            result = await self.planner.plan(request, calls.append)
        finally:
            if calls:
                await asyncio.to_thread(self._record_calls, request, calls)
        if gate is not None:
            checked = await gate.check(result.plan)
            if checked.forbidden:
                raise checked.denied()
        if self.cache is not None:
            await asyncio.to_thread(self.cache.store, request, result)
        return PlanningOutcome(
            plan_id=plan_id_for(request, result.plan),
            plan=result.plan,
            source=result.source,
            usage=result.usage,
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=result.attempts,
            playbook=result.playbook,
            cache={"hit": False} if self.cache is not None else None,
        )

    def _from_cache(self, request: PlanRequest, hit: CachedPlan, started: float) -> PlanningOutcome:
        saved = hit.usage
        if self.ledger is not None:
            self.ledger.record(
                LedgerEntry(
                    tenant=request.tenant,
                    kind="cache_hit",
                    model=saved.model,
                    saved_tokens=saved.total_tokens,
                    saved_cost=saved.cost,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    goal_id=request.goal_id,
                    at=request.now,
                )
            )
        details = {
            "hit": True,
            **hit.details,
            "saved_tokens": saved.total_tokens,
            "saved_cost": round(saved.cost, 8),
        }
        return PlanningOutcome(
            plan_id=plan_id_for(request, hit.plan),
            plan=hit.plan,
            source="cache",
            usage=Usage(model=saved.model),
            latency_ms=(time.perf_counter() - started) * 1000,
            cache=details,
        )


class _PolicyGate:
    """The tenant's policy for one planning request: the tools to offer and each plan's check
    (the last one remembered, so the plan the planner settles on is decided once)."""

    def __init__(self, guard: Guard, request: PlanRequest) -> None:
        self.guard = guard
        self.request = request
        self.principal = Principal(id=request.user_id, tenant=request.tenant, role=request.role)
        self.origin = PlanOrigin(
            goal=request.goal,
            context=dict(request.context),
            outside_texts=tuple(output_text(o) for o in request.tool_outputs),
        )
        self._last: tuple[Plan, PlanCheck] | None = None

    async def prepare(self) -> PlanRequest:
        """The request with the offered catalogue and this gate as its review."""
        offered = await asyncio.to_thread(self.guard.offered_tools, self.principal)
        return replace(self.request, offered_tools=offered, review=self.review)

    async def check(self, plan: Plan) -> PlanCheck:
        if self._last is not None and self._last[0] is plan:
            return self._last[1]
        checked = await asyncio.to_thread(self.guard.check_plan, self.principal, plan, self.origin)
        self._last = (plan, checked)
        return checked

    async def review(self, plan: Plan) -> str:
        return (await self.check(plan)).repair_message()
