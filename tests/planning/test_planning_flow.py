"""The planning flow: budgets, ledger records, cache-first lookups and PlanGenerated data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from llm_wire import Reply, ScriptedLLM, openai_content
from temporalio.exceptions import ApplicationError

from omnihub.cache import open_plan_cache
from omnihub.config import load_settings
from omnihub.errors import BudgetExceededError, ConfigurationError, ProviderRequestError
from omnihub.events import PlanGenerated, open_event_store
from omnihub.planning import (
    Budget,
    BudgetExceeded,
    BudgetPolicy,
    CachePlanStore,
    PlanningService,
    PlanRequest,
    SagaPlanProvider,
    SQLiteUsageLedger,
    Usage,
    build_planner,
    build_planning_service,
    event_store_sink,
    open_ledger,
    plan_goal,
    planner_cache_version,
    resolve_planner_kind,
)
from omnihub.saga import PlanningInput
from omnihub.tools import ToolRegistry, default_registry

PLAN = {
    "reasoning": "answer",
    "steps": [{"id": "s1", "tool": "respond_to_user", "args": {"message": "ok"}, "depends_on": []}],
}
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SQLiteUsageLedger]:
    opened = SQLiteUsageLedger(tmp_path / "store.db")
    yield opened
    opened.close()


def _service(
    server: ScriptedLLM,
    ledger: SQLiteUsageLedger,
    budgets: BudgetPolicy,
    events: list[tuple[str, dict[str, Any]]],
    cache: Any = None,
) -> PlanningService:
    settings = load_settings(llm_base_url=server.base_url, llm_model="gpt-4o", llm_max_retries=0)
    planner = build_planner(settings, default_registry())
    return PlanningService(
        planner,
        ledger=ledger,
        budgets=budgets,
        cache=cache,
        events=lambda kind, payload: events.append((kind, payload)),
    )


def _reply() -> Reply:
    return Reply(body=openai_content(json.dumps(PLAN), tokens=(100, 20), model="gpt-4o"))


async def test_token_budget_rejects_the_goal_with_an_event_and_no_llm_call(
    scripted_llm: ScriptedLLM, ledger: SQLiteUsageLedger
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    service = _service(scripted_llm, ledger, BudgetPolicy(default=Budget(tokens=200)), events)
    scripted_llm.script(_reply(), _reply())
    first = await service.plan_goal(PlanRequest("a", tenant="acme", now=NOW))
    second = await service.plan_goal(PlanRequest("b", tenant="acme", now=NOW))
    assert first.usage.total_tokens == second.usage.total_tokens == 120
    with pytest.raises(BudgetExceededError, match="240 tokens used today") as raised:
        await service.plan_goal(PlanRequest("c", tenant="acme", goal_id="g3", now=NOW))
    assert raised.value.action == "reject"
    assert raised.value.tenant == "acme"
    assert len(scripted_llm.requests) == 2
    assert events == [
        (
            "BudgetExceeded",
            {
                "tenant": "acme",
                "action": "reject",
                "reason": str(raised.value),
                "period": "day",
                "period_start": "2026-03-01T00:00:00+00:00",
                "spent_tokens": 240,
                "spent_cost": pytest.approx((200 * 2.5 + 40 * 10) / 1e6),
                "limit_tokens": 200,
                "limit_cost": None,
                "goal_id": "g3",
            },
        )
    ]
    # Another tenant, and the same tenant tomorrow, still have budget.
    scripted_llm.script(_reply(), _reply())
    await service.plan_goal(PlanRequest("d", tenant="other", now=NOW))
    tomorrow = datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)
    await service.plan_goal(PlanRequest("e", tenant="acme", now=tomorrow))
    await service.aclose()


async def test_cost_budget_holds_for_approval_and_an_approval_lets_it_through(
    scripted_llm: ScriptedLLM, ledger: SQLiteUsageLedger
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    policy = BudgetPolicy(default=Budget(cost=0.0001), action="hold")
    service = _service(scripted_llm, ledger, policy, events)
    scripted_llm.script(_reply(), _reply())
    await service.plan_goal(PlanRequest("a", tenant="acme", now=NOW))
    with pytest.raises(BudgetExceededError, match="held for approval") as raised:
        await service.plan_goal(PlanRequest("b", tenant="acme", now=NOW))
    assert raised.value.action == "hold"
    assert events[0][1]["action"] == "hold"
    outcome = await service.plan_goal(
        PlanRequest("b", tenant="acme", now=NOW), budget_approved=True
    )
    assert outcome.source == "llm"
    assert len(scripted_llm.requests) == 2
    await service.aclose()


def test_budget_policy_from_settings_with_tenant_overrides() -> None:
    settings = load_settings(
        budget_daily_tokens=1000,
        budget_tenants={"big": {"tokens": 10**6, "cost": 50.0}, "free": {"cost": 0.01}},
        budget_action="hold",
    )
    policy = BudgetPolicy.from_settings(settings)
    assert policy.budget_for("anyone") == Budget(tokens=1000)
    assert policy.budget_for("big") == Budget(tokens=10**6, cost=50.0)
    assert policy.budget_for("free") == Budget(cost=0.01)
    assert policy.action == "hold"
    bad = load_settings(budget_tenants={"x": {"dollars": 1.0}})
    with pytest.raises(ConfigurationError, match="unknown keys"):
        BudgetPolicy.from_settings(bad)


async def test_every_llm_call_lands_in_the_ledger_even_when_planning_fails(
    scripted_llm: ScriptedLLM, ledger: SQLiteUsageLedger
) -> None:
    service = _service(scripted_llm, ledger, BudgetPolicy(), [])
    scripted_llm.script(*[Reply(body=openai_content("nope", tokens=(50, 5)))] * 3)
    with pytest.raises(Exception, match="no valid plan after 3 attempt"):
        await service.plan_goal(PlanRequest("a", tenant="acme", goal_id="g1", now=NOW))
    rows = ledger.summary("acme")
    assert [(r.calls, r.prompt_tokens, r.completion_tokens) for r in rows] == [(3, 150, 15)]
    await service.aclose()


def _train_plan(origin: str, destination: str, date: str) -> dict[str, Any]:
    return {
        "reasoning": "Record the booking.",
        "steps": [
            {
                "id": "book",
                "tool": "database_write",
                "args": {
                    "table": "bookings",
                    "values": {"origin": origin, "destination": destination, "date": date},
                },
                "depends_on": [],
            }
        ],
    }


async def test_the_real_plan_cache_answers_repeats_and_the_ledger_counts_the_savings(
    scripted_llm: ScriptedLLM, tmp_path: Path
) -> None:
    settings = load_settings(
        llm_base_url=scripted_llm.base_url,
        llm_model="gpt-4o",
        llm_max_retries=0,
        event_store_url=f"sqlite:///{tmp_path / 'store.db'}",
        budget_daily_tokens=100,
    )
    events: list[tuple[str, dict[str, Any]]] = []
    service = build_planning_service(
        settings, default_registry(), events=lambda kind, data: events.append((kind, data))
    )
    plan = _train_plan("Lyon", "Nice", "2026-03-03")
    scripted_llm.script(Reply(body=openai_content(json.dumps(plan), model="gpt-4o")))
    first = await service.plan_goal(
        PlanRequest("Book a train from Lyon to Nice on 3 March", tenant="acme", now=NOW)
    )
    # Over budget now, but a cache hit costs nothing and is never blocked.
    second = await service.plan_goal(
        PlanRequest("Book a train from Turin to Bern on 4 April", tenant="acme", now=NOW)
    )
    assert len(scripted_llm.requests) == 1
    assert first.source == "llm"
    assert first.cache == {"hit": False}
    assert second.source == "cache"
    assert (
        second.plan.steps[0].args == _train_plan("Turin", "Bern", "2026-04-04")["steps"][0]["args"]
    )
    assert second.usage == Usage(model="gpt-4o")
    assert second.cache is not None
    assert second.cache["saved_tokens"] == 120
    generated = PlanGenerated.model_validate(second.event_payload(), strict=False)
    assert generated.cache is not None
    assert generated.cache.similarity == pytest.approx(1.0)
    assert generated.cache.template == (
        "Book a train from {LOCATION:origin} to {LOCATION:destination} on {DATE}"
    )
    assert generated.token_usage is None
    assert events == []
    ledger = service.ledger
    assert ledger is not None
    rows = ledger.summary("acme")
    assert (rows[0].calls, rows[0].cache_hits, rows[0].saved_tokens) == (1, 1, 120)
    assert rows[0].saved_cost == pytest.approx(first.usage.cost)
    # Another tenant shares nothing: a miss, and over no budget of its own it plans.
    scripted_llm.script(Reply(body=openai_content(json.dumps(plan), model="gpt-4o")))
    other = await service.plan_goal(
        PlanRequest("Book a train from Lyon to Nice on 3 March", tenant="umbrella", now=NOW)
    )
    assert other.source == "llm"
    await service.aclose()


async def test_plan_generated_payload_and_cli_json_shapes(
    scripted_llm: ScriptedLLM, ledger: SQLiteUsageLedger
) -> None:
    service = _service(scripted_llm, ledger, BudgetPolicy(), [])
    scripted_llm.script(_reply(), _reply())
    one = await service.plan_goal(PlanRequest("x", tenant="t", goal_id="goal-1", now=NOW))
    again = await service.plan_goal(PlanRequest("x", tenant="t", goal_id="goal-1", now=NOW))
    assert one.plan_id == again.plan_id  # a retried planning activity names the plan the same
    payload = one.event_payload()
    generated = PlanGenerated.model_validate(payload, strict=False)
    assert generated.source == "llm"
    assert generated.model == "gpt-4o"
    assert generated.token_usage is not None
    assert generated.token_usage.total_tokens == 120
    assert generated.reasoning == "answer"
    assert [s.tool for s in generated.steps] == ["respond_to_user"]
    assert generated.cache is None
    assert one.latency_ms > 0
    steps = [s.model_dump(mode="json") for s in one.plan.steps]
    assert one.cli_json() == {
        "plan": steps,
        "source": "llm",
        "usage": {
            "model": "gpt-4o",
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "cost": pytest.approx((100 * 2.5 + 20 * 10) / 1e6),
        },
    }
    await service.aclose()


def test_settings_pick_the_planner() -> None:
    assert resolve_planner_kind(load_settings()) == "playbook"
    assert resolve_planner_kind(load_settings(llm_base_url="http://127.0.0.1:1")) == "openai"
    assert resolve_planner_kind(load_settings(planner="anthropic")) == "anthropic"
    assert resolve_planner_kind(load_settings(), "openai") == "openai"
    with pytest.raises(ConfigurationError, match="needs a model"):
        build_planner(load_settings(llm_base_url="http://127.0.0.1:1"), default_registry())


async def test_budget_event_is_appended_to_the_goal_stream_once(
    scripted_llm: ScriptedLLM, tmp_path: Path
) -> None:
    store = open_event_store(f"sqlite:///{tmp_path / 'events.db'}")
    ledger = open_ledger(f"sqlite:///{tmp_path / 'events.db'}")
    settings = load_settings(llm_base_url=scripted_llm.base_url, llm_model="gpt-4o")
    service = PlanningService(
        build_planner(settings, default_registry()),
        ledger=ledger,
        budgets=BudgetPolicy(default=Budget(tokens=0)),
        events=event_store_sink(store),
    )
    for _ in range(2):  # a retried activity must not record the event twice
        with pytest.raises(BudgetExceededError):
            await service.plan_goal(PlanRequest("a", tenant="acme", goal_id="goal-7", now=NOW))
    with pytest.raises(BudgetExceededError):
        await service.plan_goal(PlanRequest("b", tenant="acme", now=NOW))
    events = store.read_stream("acme", "goal-7")
    assert [e.event_type for e in events] == ["BudgetExceeded"]
    payload = events[0].payload
    assert isinstance(payload, BudgetExceeded)
    assert payload.action == "reject"
    assert payload.limit_tokens == 0
    assert [e.event_type for e in store.read_stream("acme", "budget")] == ["BudgetExceeded"]
    assert scripted_llm.requests == []
    await service.aclose()
    store.close()


async def test_saga_provider_makes_provider_outages_retryable_activity_failures(
    scripted_llm: ScriptedLLM, ledger: SQLiteUsageLedger
) -> None:
    settings = load_settings(
        llm_base_url=scripted_llm.base_url, llm_model="gpt-4o", llm_max_retries=0,
        llm_max_retry_after_s=1,
    )  # fmt: skip
    provider = SagaPlanProvider(
        PlanningService(build_planner(settings, default_registry()), ledger=ledger)
    )
    scripted_llm.script(
        Reply(503, {"error": {"message": "down"}}),
        Reply(429, {"error": {"message": "later"}}, headers={"Retry-After": "30"}),
        Reply(400, {"error": {"message": "bad request"}}),
        _reply(),
    )
    request = PlanningInput(tenant_id="acme", goal_id="g1", goal="x", user_id="user", at=NOW)
    with pytest.raises(ApplicationError) as outage:
        await provider.plan(request)
    assert outage.value.type == "ProviderUnavailableError"
    assert not outage.value.non_retryable
    with pytest.raises(ApplicationError) as limited:
        await provider.plan(request)
    assert limited.value.type == "ProviderRateLimitError"
    assert limited.value.next_retry_delay is not None
    assert limited.value.next_retry_delay.total_seconds() == 30
    with pytest.raises(ProviderRequestError):  # the saga turns it into a failed goal
        await provider.plan(request)
    provided = await provider.plan(request)
    assert provided.plan.steps[0].tool == "respond_to_user"
    assert (provided.source, provided.model) == ("llm", "gpt-4o")
    assert provided.token_usage is not None
    assert provided.cost is not None
    assert provided.latency_ms is not None
    assert provider.outcomes["g1"].plan == provided.plan
    await provider.service.aclose()


async def test_a_cached_plan_that_no_longer_validates_is_a_miss(tmp_path: Path) -> None:
    settings = load_settings(event_store_url=f"sqlite:///{tmp_path / 'store.db'}")
    full = default_registry()
    planner = build_planner(settings, full)
    cache = open_plan_cache(settings, version=planner_cache_version(planner, full))
    writer = CachePlanStore(cache, full)
    goal = "Create an account for zoe@umbrella.co"
    request = PlanRequest(goal, tenant="acme", now=NOW)
    assert writer.lookup(request) is None
    writer.store(request, await planner.plan(request))
    assert writer.lookup(request) is not None
    # A worker without send_email cannot run the cached plan: the hit is treated as a miss.
    smaller = ToolRegistry([full.get("database_write"), full.get("database_delete")])
    assert CachePlanStore(cache, smaller).lookup(request) is None
    writer.close()


async def test_plan_goal_entry_point_plans_with_settings(tmp_path: Path) -> None:
    settings = load_settings(event_store_url=f"sqlite:///{tmp_path / 'store.db'}")
    outcome = await plan_goal(
        "Delete the account of sven.smith@acme.io",
        settings=settings,
        registry=default_registry(),
        tenant="acme",
        goal_id="g-1",
        now=NOW,
        use_cache=False,
    )
    assert outcome.source == "playbook"
    assert outcome.playbook == "delete_user"
    assert outcome.plan.steps[0].args == {"table": "users", "id": "sven.smith@acme.io"}
    assert outcome.cache is None
