"""Build planners and the planning service from settings (and CLI overrides)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from omnihub.cache import open_plan_cache
from omnihub.config import Settings
from omnihub.errors import ConfigurationError
from omnihub.planning._anthropic import AnthropicMessagesClient
from omnihub.planning._budget import BudgetPolicy
from omnihub.planning._cache_store import CachePlanStore, planner_cache_version
from omnihub.planning._flow import EventSink, PlanningOutcome, PlanningService
from omnihub.planning._http import RetryPolicy
from omnihub.planning._ledger import PriceTable, open_ledger
from omnihub.planning._llm import LLMPlanner
from omnihub.planning._openai import OpenAIChatClient
from omnihub.planning._planner import Planner, PlanRequest
from omnihub.planning._types import ModelClient
from omnihub.tools import ToolRegistry

PlannerKind = Literal["auto", "playbook", "openai", "anthropic"]


def resolve_planner_kind(settings: Settings, kind: PlannerKind | None = None) -> str:
    """``auto`` is the OpenAI-compatible planner when an LLM base URL is set, else playbooks."""
    chosen = kind or settings.planner
    if chosen == "auto":
        return "openai" if settings.llm_base_url else "playbook"
    return chosen


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_retries=settings.llm_max_retries,
        backoff_initial_s=settings.llm_backoff_initial_s,
        backoff_max_s=settings.llm_backoff_max_s,
        max_retry_after_s=settings.llm_max_retry_after_s,
    )


def build_planner(
    settings: Settings,
    registry: ToolRegistry,
    *,
    kind: PlannerKind | None = None,
    base_url: str | None = None,
    model: str | None = None,
) -> Planner:
    """The planner the settings (or the overrides) ask for."""
    chosen = resolve_planner_kind(settings, kind)
    if chosen == "playbook":
        from omnihub.planning._playbooks import PlaybookPlanner

        return PlaybookPlanner.from_settings(settings, registry)
    model = model or settings.llm_model
    if not model:
        raise ConfigurationError(
            f"the {chosen} planner needs a model: set OMNIHUB_LLM_MODEL or pass --model"
        )
    common: dict[str, Any] = {
        "model": model,
        "base_url": base_url or settings.llm_base_url,
        "api_key": settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        "timeout_s": settings.llm_timeout_s,
        "max_tokens": settings.llm_max_tokens,
        "retry": retry_policy(settings),
    }
    client: ModelClient
    if chosen == "openai":
        client = OpenAIChatClient(mode=settings.llm_structured_output, **common)
    else:
        client = AnthropicMessagesClient(**common)
    return LLMPlanner(
        client,
        registry,
        prices=PriceTable.with_overrides(settings.llm_prices),
        repair_attempts=settings.planner_repair_attempts,
    )


def build_planning_service(
    settings: Settings,
    registry: ToolRegistry,
    *,
    kind: PlannerKind | None = None,
    base_url: str | None = None,
    model: str | None = None,
    use_cache: bool = True,
    events: EventSink | None = None,
) -> PlanningService:
    """The planning flow: the plan cache from settings (unless ``use_cache`` is false), the
    ledger in the store's database, and the tenant budgets."""
    planner = build_planner(settings, registry, kind=kind, base_url=base_url, model=model)
    ledger = open_ledger(settings.resolved_event_store_url)
    cache = None
    if use_cache:
        version = planner_cache_version(planner, registry)
        cache = CachePlanStore(open_plan_cache(settings, version=version), registry, ledger)
    return PlanningService(
        planner,
        ledger=ledger,
        cache=cache,
        budgets=BudgetPolicy.from_settings(settings),
        events=events,
    )


async def plan_goal(
    goal: str,
    *,
    settings: Settings,
    registry: ToolRegistry,
    tenant: str | None = None,
    goal_id: str | None = None,
    now: datetime | None = None,
    budget_approved: bool = False,
    kind: PlannerKind | None = None,
    use_cache: bool = True,
    events: EventSink | None = None,
) -> PlanningOutcome:
    """Plan one goal end to end with a service built for this call (the saga's entry point).

    Long-lived processes should build a :class:`PlanningService` once and call its
    :meth:`~PlanningService.plan_goal` instead, so the embedder and connections are reused.
    """
    service = build_planning_service(
        settings, registry, kind=kind, use_cache=use_cache, events=events
    )
    try:
        request = PlanRequest(goal=goal, tenant=tenant or settings.tenant_id, goal_id=goal_id)
        if now is not None:
            request = PlanRequest(goal=goal, tenant=request.tenant, goal_id=goal_id, now=now)
        return await service.plan_goal(request, budget_approved=budget_approved)
    finally:
        await service.aclose()
