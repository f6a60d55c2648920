"""Helpers of the saga tests: a real stack per test (the session's Temporal dev server, an
SQLite event store and tool database, a worker on its own task queue) and stand-in tools
passed in under their own names."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from omnihub.errors import ToolError
from omnihub.events import EventEnvelope, EventStore, open_event_store
from omnihub.guard import Guard
from omnihub.saga import SagaActivities, SagaClient, SagaOptions, SagaState, build_worker
from omnihub.servers import EmbeddedTemporal
from omnihub.tools import (
    Compensation,
    DatabaseWriteInput,
    DatabaseWriteOutput,
    IdempotencyLedger,
    RetrySpec,
    ToolContext,
    ToolRegistry,
    ToolResources,
    ToolSpec,
    default_registry,
    open_database,
    tool,
)

FAST = RetrySpec(initial_interval_s=0.05, backoff=2.0, max_interval_s=0.2, max_attempts=3)
WRITE = default_registry().get("database_write")


class Empty(BaseModel):
    pass


class Note(BaseModel):
    note: str = ""


class SleepInput(BaseModel):
    seconds: float


def _raising(name: str, *, non_retryable: bool, retry: RetrySpec = FAST) -> ToolSpec:
    async def fail(args: Empty, ctx: ToolContext) -> Note:
        raise ToolError(f"{name} always fails", non_retryable=non_retryable)

    return tool(name=name, description=f"Stand-in: {name}", retry=retry)(fail)


def stand_in_tools(calls: dict[str, int]) -> list[ToolSpec]:
    """Tools that fail, flake, sleep or need approval, registered under their own names.
    ``calls`` counts attempts per idempotency key."""

    @tool(name="flaky", retry=FAST, description="Fails twice per step, then succeeds.")
    async def flaky(args: Empty, ctx: ToolContext) -> Note:
        calls[ctx.idempotency_key] = calls.get(ctx.idempotency_key, 0) + 1
        if calls[ctx.idempotency_key] < 3:
            raise ToolError("not yet")
        return Note(note=f"ok after {calls[ctx.idempotency_key]}")

    @tool(name="sleep", heartbeat_timeout_s=2.0, description="Sleeps, heartbeating.")
    async def sleep(args: SleepInput, ctx: ToolContext) -> Note:
        for _ in range(int(args.seconds * 10)):
            await asyncio.sleep(0.1)
            ctx.heartbeat()
        return Note(note="slept")

    guarded = tool(
        name="guarded_write",
        side_effect=True,
        risk="red",
        requires_approval=True,
        compensation=Compensation(
            "database_delete", {"table": "input.table", "id": "output.record_id"}
        ),
    )(WRITE.func)
    broken = tool(
        name="write_with_broken_undo",
        side_effect=True,
        compensation=Compensation("broken_undo", {}),
    )(WRITE.func)
    return [
        flaky,
        sleep,
        guarded,
        broken,
        _raising("always_fails", non_retryable=False),
        _raising("rejects_input", non_retryable=True),
        _raising("broken_undo", non_retryable=False, retry=FAST),
    ]


def slow_write_tool(seconds: float) -> ToolSpec:
    """database_write that then sleeps (heartbeating): a worker killed in the sleep has acted."""

    async def slow_write(args: DatabaseWriteInput, ctx: ToolContext) -> DatabaseWriteOutput:
        out: DatabaseWriteOutput = await WRITE.func(args, ctx)
        for _ in range(int(seconds * 10)):
            await asyncio.sleep(0.1)
            ctx.heartbeat()
        return out

    return tool(
        name="slow_write",
        side_effect=True,
        heartbeat_timeout_s=2.0,
        retry=RetrySpec(initial_interval_s=0.1, max_interval_s=0.5, max_attempts=10),
        compensation=WRITE.compensation,
    )(slow_write)


def make_resources(db: Path | str) -> ToolResources:
    """Tool resources on an SQLite file (a path) or any database URL."""
    database = open_database(db if isinstance(db, str) else f"sqlite:///{db}")
    with database.transaction() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, tenant_id TEXT, sku TEXT,"
            " qty INTEGER)"
        )
    return ToolResources(
        ledger=IdempotencyLedger(database),
        database=database,
        allowed_tables=frozenset({"orders"}),
    )


@dataclass
class SagaStack:
    """Everything one saga test touches."""

    client: Client
    sagas: SagaClient
    store: EventStore
    resources: ToolResources
    registry: ToolRegistry
    task_queue: str
    calls: dict[str, int] = field(default_factory=dict)

    def events(self, goal_id: str, tenant_id: str = "default") -> list[EventEnvelope]:
        return self.store.read_stream(tenant_id, goal_id)

    def event_types(self, goal_id: str) -> list[str]:
        return [e.event_type for e in self.events(goal_id)]

    def rows(self) -> list[dict[str, Any]]:
        with self.resources.database.transaction() as cursor:
            cursor.execute("SELECT id, sku, qty FROM orders ORDER BY sku")
            return cursor.fetchall()

    @asynccontextmanager
    async def worker(
        self, registry: ToolRegistry | None = None, client: Client | None = None
    ) -> AsyncIterator[None]:
        """A worker in this process (a second one needs its own ``client``)."""
        registry = registry or self.registry
        # The stand-in tools are this kit's own: permitted explicitly, as an operator would.
        guard = Guard.permitting(registry)
        activities = SagaActivities(registry, self.resources, self.store, guard=guard)
        async with build_worker(client or self.client, activities, task_queue=self.task_queue):
            yield


async def connect(address: str) -> Client:
    return await Client.connect(address, data_converter=pydantic_data_converter)


@asynccontextmanager
async def saga_stack(
    server: EmbeddedTemporal,
    tmp_path: Path,
    extra_tools: Iterable[ToolSpec] = (),
    options: SagaOptions | None = None,
    db_url: str | None = None,
) -> AsyncIterator[SagaStack]:
    calls: dict[str, int] = {}
    registry = default_registry([*stand_in_tools(calls), *extra_tools])
    db_url = db_url or f"sqlite:///{tmp_path / 'events.db'}"
    store = open_event_store(db_url)
    resources = make_resources(db_url)
    client = await connect(server.address)
    task_queue = f"q-{uuid.uuid4().hex[:8]}"
    options = options or SagaOptions(approval_timeout_s=60)
    stack = SagaStack(
        client=client,
        sagas=SagaClient(client, task_queue=task_queue, options=options),
        store=store,
        resources=resources,
        registry=registry,
        task_queue=task_queue,
        calls=calls,
    )
    try:
        yield stack
    finally:
        resources.close()
        store.close()


async def wait_for(predicate: Callable[[], bool], within_s: float = 20.0) -> None:
    """Poll ``predicate`` until it holds (the saga runs on real servers, in real time)."""
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 - polls a real server, no event to wait on
            await asyncio.sleep(0.05)


async def awaiting_approval(sagas: SagaClient, goal_id: str, within_s: float = 30.0) -> SagaState:
    """Poll the goal's query until a step waits for approval; that state."""
    async with asyncio.timeout(within_s):
        while not (state := await sagas.state(goal_id)).pending_approvals:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return state
