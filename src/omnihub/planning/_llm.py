"""The LLM planner: prompt a model, parse its reply into a Plan, validate, and repair."""

from __future__ import annotations

import json
import time
from typing import Any

import pydantic

from omnihub import telemetry
from omnihub.errors import InvalidPlanError
from omnihub.planning._ledger import PriceTable
from omnihub.planning._planner import LLMCall, PlannerResult, PlanRequest, UsageSink
from omnihub.planning._prompt import build_prompt, repair_message
from omnihub.planning._types import (
    AssistantTurn,
    Completion,
    ModelClient,
    RepairTurn,
    Turn,
    Usage,
    UserTurn,
)
from omnihub.plans import Plan, PlanValidationError, validate_plan
from omnihub.tools import ToolRegistry


def _decode(payload: str | dict[str, Any]) -> dict[str, Any]:
    """The reply as a JSON object; a fenced ```json block is accepted, anything else is not."""
    if isinstance(payload, dict):
        return payload
    text = payload.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    if not text:
        raise ValueError("the reply was empty; expected one JSON object")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc.msg} at position {exc.pos})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"the reply is JSON but not an object (got {type(value).__name__})")
    return value


def check_plan(plan: Plan, registry: ToolRegistry) -> None:
    """:func:`omnihub.plans.validate_plan` plus the planner's own rule: every step with a side
    effect that names a compensation must have that undo tool available here, or a failure
    later in the goal could not be rolled back. Raises PlanValidationError with every problem.
    """
    problems: list[str] = []
    try:
        validate_plan(plan, registry)
    except PlanValidationError as exc:
        problems += exc.problems
    for step in plan.steps:
        if step.tool in registry:
            undo = registry.get(step.tool).compensation
            if undo is not None and undo.tool not in registry:
                problems.append(
                    f"step {step.id!r}: {step.tool!r} is undone by {undo.tool!r}, "
                    "which is not available, so it cannot be compensated"
                )
    if problems:
        raise PlanValidationError(problems)


def parse_plan(payload: str | dict[str, Any], registry: ToolRegistry) -> Plan:
    """Parse a model reply into a :class:`Plan` and validate it against ``registry``.

    Raises PlanValidationError listing every problem found (shape, unknown tools, argument
    types, dependencies, cycles), which is what the repair turn sends back.
    """
    try:
        data = _decode(payload)
        plan = Plan.model_validate(data)
    except ValueError as exc:
        if isinstance(exc, pydantic.ValidationError):
            problems = [
                f"{'.'.join(str(p) for p in err['loc']) or 'plan'}: {err['msg']}"
                for err in exc.errors()
            ]
        else:
            problems = [str(exc)]
        raise PlanValidationError(problems) from exc
    check_plan(plan, registry)
    return plan


class LLMPlanner:
    """Plans with a chat model; an invalid reply gets up to ``repair_attempts`` repair turns.

    Each call (including the repair turns) is reported to the ``usage`` sink with its tokens,
    cost and latency as soon as it returns, so the ledger is right even when the goal fails.
    """

    source = "llm"

    def __init__(
        self,
        client: ModelClient,
        registry: ToolRegistry,
        *,
        prices: PriceTable | None = None,
        repair_attempts: int = 2,
    ) -> None:
        self.client = client
        self.registry = registry
        self.prices = prices or PriceTable()
        self.repair_attempts = repair_attempts

    @property
    def model(self) -> str:
        return self.client.model

    async def aclose(self) -> None:
        await self.client.aclose()

    def _call(self, completion: Completion) -> LLMCall:
        cost = self.prices.cost(
            completion.model, completion.prompt_tokens, completion.completion_tokens
        )
        return LLMCall(
            provider=self.client.provider,
            model=completion.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            cost=cost,
            latency_ms=completion.latency_ms,
        )

    async def plan(self, request: PlanRequest, usage: UsageSink | None = None) -> PlannerResult:
        started = time.perf_counter()
        catalog = self.registry.catalog()
        if request.offered_tools is not None:
            # Tools the tenant's policy can never permit are not offered at all.
            catalog = [entry for entry in catalog if entry["name"] in request.offered_tools]
        prompt = build_prompt(
            request.goal, catalog, tool_outputs=request.tool_outputs, now=request.now
        )
        turns: list[Turn] = [UserTurn(prompt.user)]
        calls: list[LLMCall] = []
        problems: list[str] = []
        repairs = 0
        # One policy repair turn at most: a model that plans a forbidden step again is not
        # argued with; the planning flow fails the plan with the policy's reason.
        review = request.review
        while repairs <= self.repair_attempts:
            # obs hook: the call's span with the GenAI semantic conventions, and its metrics
            with telemetry.span(
                f"chat {self.client.model}",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": self.client.provider,
                    "gen_ai.request.model": self.client.model,
                    "omnihub.tenant": request.tenant,
                    "omnihub.attempt": len(calls) + 1,
                },
            ) as current:
                completion = await self.client.complete(prompt.system, turns)
                call = self._call(completion)
                current.set_attributes(
                    {
                        "gen_ai.response.model": call.model,
                        "gen_ai.usage.input_tokens": call.prompt_tokens,
                        "gen_ai.usage.output_tokens": call.completion_tokens,
                        "omnihub.cost_usd": call.cost,
                    }
                )
            telemetry.record_llm_call(
                request.tenant,
                call.model,
                input_tokens=call.prompt_tokens,
                output_tokens=call.completion_tokens,
                cost_usd=call.cost,
                seconds=call.latency_ms / 1000,
            )
            calls.append(call)
            if usage is not None:
                usage(call)
            try:
                plan = parse_plan(completion.payload, self.registry)
            except PlanValidationError as exc:
                problems = list(exc.problems)
                turns += [AssistantTurn(completion), RepairTurn(repair_message(problems))]
                repairs += 1
                continue
            objection = await review(plan) if review is not None else ""
            if objection:
                review = None
                turns += [AssistantTurn(completion), RepairTurn(objection)]
                continue
            return PlannerResult(
                plan=plan,
                source="llm",
                usage=Usage(
                    model=completion.model,
                    prompt_tokens=sum(c.prompt_tokens for c in calls),
                    completion_tokens=sum(c.completion_tokens for c in calls),
                    cost=sum(c.cost for c in calls),
                ),
                latency_ms=(time.perf_counter() - started) * 1000,
                attempts=len(calls),
                calls=tuple(calls),
            )
        raise InvalidPlanError(
            f"no valid plan after {len(calls)} attempt(s) ({self.repair_attempts} repair "
            f"turn(s)); last problems: {'; '.join(problems)}",
            problems,
        )
