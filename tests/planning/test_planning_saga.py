"""Planning inside the saga, on the real Temporal dev server: goals started without a plan."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from llm_wire import Reply, ScriptedLLM, openai_content
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from omnihub.config import load_settings
from omnihub.errors import ValidationError
from omnihub.events import (
    ApprovalGranted,
    EventStore,
    GoalFailed,
    PlanGenerated,
    open_event_store,
)
from omnihub.guard import Guard
from omnihub.planning import (
    BudgetPolicy,
    PlanningService,
    SagaPlanProvider,
    build_planner,
    build_planning_service,
    open_ledger,
)
from omnihub.saga import (
    ApprovalDecision,
    SagaActivities,
    SagaClient,
    SagaOptions,
    build_worker,
)
from omnihub.servers import EmbeddedTemporal
from omnihub.tools import (
    IdempotencyLedger,
    ToolRegistry,
    ToolResources,
    default_registry,
    open_database,
    tool,
)


@dataclass
class Stack:
    sagas: SagaClient
    store: EventStore
    resources: ToolResources
    provider: SagaPlanProvider

    def bookings(self) -> list[dict[str, object]]:
        with self.resources.database.transaction() as cursor:
            cursor.execute("SELECT kind, origin, destination, date FROM bookings")
            return cursor.fetchall()


@asynccontextmanager
async def saga_with_planner(
    server: EmbeddedTemporal,
    tmp_path: Path,
    service: PlanningService,
    registry: ToolRegistry | None = None,
) -> AsyncIterator[Stack]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_event_store(url)
    database = open_database(url)
    with database.transaction() as cursor:
        cursor.execute(
            "CREATE TABLE bookings (id TEXT PRIMARY KEY, tenant_id TEXT, kind TEXT, origin TEXT,"
            " destination TEXT, date TEXT)"
        )
    resources = ToolResources(
        ledger=IdempotencyLedger(database),
        database=database,
        allowed_tables=frozenset({"bookings"}),
    )
    provider = SagaPlanProvider(service)
    registry = registry or default_registry()
    client = await Client.connect(server.address, data_converter=pydantic_data_converter)
    queue = f"plan-{uuid.uuid4().hex[:8]}"
    activities = SagaActivities(registry, resources, store, planner=provider)
    try:
        async with build_worker(client, activities, task_queue=queue):
            sagas = SagaClient(client, task_queue=queue, options=SagaOptions(approval_timeout_s=60))
            yield Stack(sagas, store, resources, provider)
    finally:
        await service.aclose()
        resources.close()
        store.close()


async def test_playbook_planner_plans_a_goal_inside_the_saga(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    settings = load_settings(event_store_url=f"sqlite:///{tmp_path / 'store.db'}")
    service = build_planning_service(settings, default_registry())
    async with saga_with_planner(temporal_server, tmp_path, service) as stack:
        goal_id = await stack.sagas.start("Book a train from Lyon to Nice on 3 March 2027")
        result = await stack.sagas.result(goal_id)
        assert result.status == "completed"
        assert result.answer == "Your train from Lyon to Nice on 2027-03-03 is booked."
        assert stack.bookings() == [
            {"kind": "train", "origin": "Lyon", "destination": "Nice", "date": "2027-03-03"}
        ]
        events = stack.store.read_stream("default", goal_id)
        assert [e.event_type for e in events][:2] == ["GoalReceived", "PlanGenerated"]
        generated = events[1].payload
        assert isinstance(generated, PlanGenerated)
        assert [s.tool for s in generated.steps] == ["database_write", "respond_to_user"]
        assert generated.source == "playbook"
        assert generated.latency_ms is not None
        outcome = stack.provider.outcomes[goal_id]
        assert outcome.source == "playbook"
        assert outcome.playbook == "book_train"

        # The same request with other values comes from the plan cache.
        second = await stack.sagas.start("Book a train from Turin to Bern on 4 April 2027")
        assert (await stack.sagas.result(second)).status == "completed"
        assert stack.provider.outcomes[second].source == "cache"
        assert len(stack.bookings()) == 2

        # No playbook matches: the goal fails with the planner's reason, nothing runs.
        failed = await stack.sagas.start("Compose a sonnet about the sea")
        outcome_failed = await stack.sagas.result(failed)
        assert outcome_failed.status == "failed"
        events = stack.store.read_stream("default", failed)
        assert "no playbook matches" in json.dumps(
            [e.payload.model_dump(mode="json") for e in events]
        )
        assert len(stack.bookings()) == 2


async def test_a_provider_outage_is_retried_by_the_planning_activity(
    temporal_server: EmbeddedTemporal, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    settings = load_settings(
        llm_base_url=scripted_llm.base_url, llm_model="gpt-4o", llm_max_retries=0
    )
    ledger = open_ledger(f"sqlite:///{tmp_path / 'store.db'}")
    service = PlanningService(build_planner(settings, default_registry()), ledger=ledger)
    plan = {
        "reasoning": "answer",
        "steps": [
            {"id": "s1", "tool": "respond_to_user", "args": {"message": "hi"}, "depends_on": []}
        ],
    }
    scripted_llm.script(
        Reply(503, {"error": {"message": "overloaded"}}),
        Reply(body=openai_content(json.dumps(plan), model="gpt-4o")),
    )
    async with saga_with_planner(temporal_server, tmp_path, service) as stack:
        goal_id = await stack.sagas.start("Say hi", tenant_id="acme")
        result = await stack.sagas.result(goal_id, tenant_id="acme")
        assert result.status == "completed"
        assert result.answer == "hi"
        assert len(scripted_llm.requests) == 2  # the second activity attempt planned it
        rows = ledger.summary("acme")
        assert rows[0].calls == 1


async def test_a_goal_over_budget_is_held_until_a_person_approves_it(
    temporal_server: EmbeddedTemporal, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    settings = load_settings(
        llm_base_url=scripted_llm.base_url,
        llm_model="gpt-4o",
        budget_daily_tokens=0,  # every LLM goal is over budget
        budget_action="hold",
    )
    ledger = open_ledger(f"sqlite:///{tmp_path / 'store.db'}")
    service = PlanningService(
        build_planner(settings, default_registry()),
        ledger=ledger,
        budgets=BudgetPolicy.from_settings(settings),
    )
    plan = {
        "reasoning": "answer",
        "steps": [
            {"id": "s1", "tool": "respond_to_user", "args": {"message": "hi"}, "depends_on": []}
        ],
    }
    scripted_llm.script(Reply(body=openai_content(json.dumps(plan), model="gpt-4o")))
    async with saga_with_planner(temporal_server, tmp_path, service) as stack:
        held = await stack.sagas.start("Say hi", tenant_id="acme")
        state = await stack.sagas.state(held, tenant_id="acme")
        for _ in range(100):
            if state.pending_approvals:
                break
            await asyncio.sleep(0.05)
            state = await stack.sagas.state(held, tenant_id="acme")
        assert [p.step_id for p in state.pending_approvals] == ["hold:budget"]
        assert "over its daily LLM budget" in state.pending_approvals[0].args["reason"]
        assert scripted_llm.requests == []  # nothing was spent while held
        decision = ApprovalDecision(
            step_id="hold:budget", approved=True, decided_by="ann", reason="ok"
        )
        await stack.sagas.decide(held, decision, tenant_id="acme")
        result = await stack.sagas.result(held, tenant_id="acme")
        assert result.status == "completed"
        assert result.answer == "hi"
        types = [e.event_type for e in stack.store.read_stream("acme", held)]
        assert types[:4] == [
            "GoalReceived",
            "ApprovalRequested",
            "ApprovalGranted",
            "PlanGenerated",
        ]

        # Rejected, the goal fails with the reason and never calls the model.
        rejected = await stack.sagas.start("Say hi again", tenant_id="acme")
        for _ in range(100):
            if (await stack.sagas.state(rejected, tenant_id="acme")).pending_approvals:
                break
            await asyncio.sleep(0.05)
        no = ApprovalDecision(step_id="hold:budget", approved=False, decided_by="ann", reason="no")
        await stack.sagas.decide(rejected, no, tenant_id="acme")
        failed = await stack.sagas.result(rejected, tenant_id="acme")
        assert failed.status == "failed"
        assert "approval rejected by ann: no" in (failed.error or "")
        assert len(scripted_llm.requests) == 1


async def _pending(stack: Stack, goal_id: str) -> list[str]:
    for _ in range(200):
        state = await stack.sagas.state(goal_id, tenant_id="acme")
        if state.pending_approvals:
            return [p.step_id for p in state.pending_approvals]
        await asyncio.sleep(0.05)
    return []


async def test_a_step_named_budget_does_not_inherit_the_budget_holds_approval(
    temporal_server: EmbeddedTemporal, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    """Issue 12 item 1: the hold's approval once unlocked any later step called ``budget``.
    An LLM picks step ids, so goal text could steer a payment into that name."""
    registry = default_registry()
    write = registry.get("database_write")
    registry.register(
        tool(name="wire_transfer", side_effect=True, risk="red", requires_approval=True)(write.func)
    )
    settings = load_settings(
        llm_base_url=scripted_llm.base_url,
        llm_model="gpt-4o",
        budget_daily_tokens=0,
        budget_action="hold",
    )
    ledger = open_ledger(f"sqlite:///{tmp_path / 'store.db'}")
    service = PlanningService(
        build_planner(settings, registry),
        ledger=ledger,
        budgets=BudgetPolicy.from_settings(settings),
    )
    row = {"kind": "wire", "origin": "acme", "destination": "supplier", "date": "2027-03-03"}
    transfer = {"table": "bookings", "values": row}
    plan = {
        "reasoning": "pay",
        "steps": [{"id": "budget", "tool": "wire_transfer", "args": transfer, "depends_on": []}],
    }
    scripted_llm.script(Reply(body=openai_content(json.dumps(plan), model="gpt-4o")))
    async with saga_with_planner(temporal_server, tmp_path, service, registry) as stack:
        goal_id = await stack.sagas.start("Pay the supplier", tenant_id="acme")
        [hold_id] = await _pending(stack, goal_id)
        hold = ApprovalDecision(step_id=hold_id, approved=True, decided_by="ann")
        await stack.sagas.decide(goal_id, hold, tenant_id="acme")

        # The transfer waits for its own approval; nothing was written on the hold's.
        assert await _pending(stack, goal_id) == ["budget"]
        state = await stack.sagas.state(goal_id, tenant_id="acme")
        waiting = state.pending_approvals[0]
        assert (waiting.tool, waiting.args) == ("wire_transfer", transfer)
        assert stack.bookings() == []

        # A decision made on other arguments is refused; one on these runs the step.
        stale = ApprovalDecision(step_id="budget", approved=True, decided_by="bob", args_hash="0")
        with pytest.raises(ValidationError, match="other arguments"):
            await stack.sagas.decide(goal_id, stale, tenant_id="acme")
        assert waiting.args_hash is not None
        yes = ApprovalDecision(
            step_id="budget", approved=True, decided_by="bob", args_hash=waiting.args_hash
        )
        await stack.sagas.decide(goal_id, yes, tenant_id="acme")
        result = await stack.sagas.result(goal_id, tenant_id="acme")
        assert result.status == "completed"
        assert len(stack.bookings()) == 1
        granted = [
            e.payload
            for e in stack.store.read_stream("acme", goal_id)
            if isinstance(e.payload, ApprovalGranted)
        ]
        assert [(g.step_id, g.tool_name, g.decided_by) for g in granted] == [
            ("hold:budget", "planner", "ann"),
            ("budget", "wire_transfer", "bob"),
        ]
        assert granted[1].args_hash == waiting.args_hash


async def test_a_plan_the_policy_still_forbids_after_its_repair_turn_fails_the_goal(
    temporal_server: EmbeddedTemporal, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    settings = load_settings(
        llm_base_url=scripted_llm.base_url, llm_model="gpt-4o", llm_max_retries=0
    )
    registry = default_registry()
    service = PlanningService(build_planner(settings, registry), guard=Guard(registry))
    forbidden = {
        "reasoning": "write the key",
        "steps": [
            {
                "id": "w1",
                "tool": "database_write",
                "args": {"table": "api_keys", "values": {"k": "v"}},
                "depends_on": [],
            }
        ],
    }
    reply = Reply(body=openai_content(json.dumps(forbidden), model="gpt-4o"))
    scripted_llm.script(reply, reply)
    async with saga_with_planner(temporal_server, tmp_path, service, registry) as stack:
        goal_id = await stack.sagas.start("Store the key abc")
        result = await stack.sagas.result(goal_id)
        assert result.status == "failed"
        assert len(scripted_llm.requests) == 2  # the plan, then ONE repair turn
        repair = scripted_llm.requests[1]["messages"][-1]["content"]
        assert "system-tables-are-not-written" in repair
        events = stack.store.read_stream("default", goal_id)
        failed = [e.payload for e in events if isinstance(e.payload, GoalFailed)]
        assert len(failed) == 1
        assert "forbidden by policy" in failed[0].error
        assert "system-tables-are-not-written" in failed[0].error
        assert not any(e.event_type == "StepStarted" for e in events)
