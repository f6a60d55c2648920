"""Console test kit: the real embedded stack (the session's Temporal dev server, an SQLite event
store, a saga worker) behind the API's app with the console mounted, served by uvicorn on
loopback.

Goals go through the real ``GoalService`` on ``SagaGoalBackend`` (the saga client and the
event store), cache and usage figures through ``StoreCacheStats``; the planner is a stand-in
passed in (``ScriptedPlanner``) that turns goal words into plans, so the tests choose which
goals need an approval or fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from omnihub.api import create_app
from omnihub.auth import Role
from omnihub.config import Settings, load_settings
from omnihub.errors import ToolError
from omnihub.events import EventStore, GoalState, open_event_store, project_goal
from omnihub.goals import GoalService, SagaGoalBackend, StoreCacheStats
from omnihub.guard import Guard
from omnihub.planning import open_ledger
from omnihub.plans import Plan, PlanStep
from omnihub.runtime import Services, open_core_services
from omnihub.saga import (
    PlanningInput,
    ProvidedPlan,
    SagaActivities,
    SagaClient,
    SagaOptions,
    build_worker,
)
from omnihub.servers import EmbeddedTemporal, free_port
from omnihub.tools import (
    Compensation,
    IdempotencyLedger,
    RetrySpec,
    ToolContext,
    ToolResources,
    default_registry,
    open_database,
    tool,
)

TERMINAL = {"completed", "failed", "cancelled"}
WRITE = default_registry().get("database_write")


class Nothing(BaseModel):
    pass


class ScriptedPlanner:
    """Plans by keyword: "approve" adds a red-lane step that needs approval, "fail" adds a
    step that fails after a write (so the write is compensated)."""

    async def plan(self, request: PlanningInput) -> ProvidedPlan:
        goal = request.goal
        words = goal.lower()
        steps = [
            PlanStep(
                id="reserve",
                tool="database_write",
                args={"table": "orders", "values": {"sku": goal[:40], "qty": 1}},
            ),
            PlanStep(
                id="check",
                tool="database_query",
                args={"table": "orders", "where": {"qty": 1}},
                depends_on=["reserve"],
            ),
        ]
        last = "check"
        if "approve" in words:
            steps.append(
                PlanStep(
                    id="pay",
                    tool="guarded_write",
                    depends_on=["check"],
                    args={"table": "orders", "values": {"sku": "payment", "qty": 2}},
                )
            )
            last = "pay"
        if "fail" in words:
            steps.append(PlanStep(id="charge", tool="always_fails", depends_on=[last]))
            last = "charge"
        steps.append(
            PlanStep(
                id="answer",
                tool="respond_to_user",
                args={"message": f"done: {goal[:60]}"},
                depends_on=[last],
            )
        )
        plan = Plan(steps=steps, reasoning="scripted for the console tests")
        return ProvidedPlan(plan=plan, source="playbook")


def stand_in_tools() -> list[Any]:
    guarded = tool(
        name="guarded_write",
        side_effect=True,
        risk="red",
        requires_approval=True,
        compensation=Compensation(
            "database_delete", {"table": "input.table", "id": "output.record_id"}
        ),
    )(WRITE.func)

    @tool(
        name="always_fails",
        description="Stand-in: a payment that is declined.",
        retry=RetrySpec(initial_interval_s=0.05, max_interval_s=0.1, max_attempts=2),
    )
    async def always_fails(args: Nothing, ctx: ToolContext) -> Nothing:
        raise ToolError("card declined", non_retryable=True)

    return [guarded, always_fails]


@dataclass
class Stack:
    """The running stack of one test."""

    settings: Settings
    services: Services
    store: EventStore
    sagas: SagaClient
    app: FastAPI
    base_url: str
    client: httpx.AsyncClient

    def key(self, tenant: str = "acme", role: Role = Role.OPERATOR) -> str:
        return self.services.keys.create(tenant, role).key

    def state(self, tenant: str, goal_id: str) -> GoalState:
        return project_goal(self.store.read_stream(tenant, goal_id), goal_id)

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 30.0) -> None:
        async with asyncio.timeout(within_s):
            while not predicate():  # noqa: ASYNC110 - polls real servers
                await asyncio.sleep(0.05)


def _resources(path: Path) -> ToolResources:
    database = open_database(f"sqlite:///{path}")
    with database.transaction() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, tenant_id TEXT, sku TEXT,"
            " qty INTEGER)"
        )
    return ToolResources(
        ledger=IdempotencyLedger(database), database=database, allowed_tables=frozenset({"orders"})
    )


@contextlib.asynccontextmanager
async def running_stack(
    temporal: EmbeddedTemporal, home: Path, *, with_worker: bool = True, **overrides: Any
) -> AsyncIterator[Stack]:
    """The whole stack for one test; everything is stopped and closed at the end."""
    settings = load_settings(
        home=home,
        event_store_url=f"sqlite:///{home / 'events.db'}",
        temporal_address=temporal.address,
        **overrides,
    )
    async with contextlib.AsyncExitStack() as stack:
        store = open_event_store(settings.resolved_event_store_url)
        stack.callback(store.close)
        resources = _resources(home / "tools.db")
        stack.callback(resources.close)
        client = await Client.connect(temporal.address, data_converter=pydantic_data_converter)
        queue = f"console-{uuid.uuid4().hex[:8]}"
        sagas = SagaClient(client, task_queue=queue, options=SagaOptions(approval_timeout_s=120))
        if with_worker:
            registry = default_registry(stand_in_tools())
            activities = SagaActivities(
                registry,
                resources,
                store,
                planner=ScriptedPlanner(),
                guard=Guard.permitting(registry),
            )
            await stack.enter_async_context(build_worker(client, activities, task_queue=queue))
        services = await open_core_services(settings)
        stack.push_async_callback(services.aclose)
        ledger = open_ledger(settings.resolved_event_store_url)
        stack.callback(ledger.close)
        backend = SagaGoalBackend(store, sagas, poll_interval=0.1)
        services.goals = GoalService(backend, services.idempotency)
        services.cache_stats = services.usage = StoreCacheStats(store, ledger)
        app = create_app(settings, services=services, sse_keepalive_seconds=1.0)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
            )
        )
        task = asyncio.create_task(server.serve())

        async def stop() -> None:
            server.should_exit = True
            await task

        stack.push_async_callback(stop)
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        http = httpx.AsyncClient(base_url=base, follow_redirects=False)
        stack.push_async_callback(http.aclose)
        yield Stack(settings, services, store, sagas, app, base, http)
