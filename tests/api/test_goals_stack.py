"""The API on the real stack: Temporal dev server, SQLite event store, a saga worker, uvicorn.

Nothing is faked: goals run as AgentSaga workflows with real tools (an SQLite table of
orders); one extra tool, ``guarded_write``, is database_write behind an approval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from omnihub.api import create_app
from omnihub.auth import Role, open_key_store
from omnihub.config import Settings, load_settings
from omnihub.planning import SagaPlanProvider, build_planning_service
from omnihub.runtime import run_worker
from omnihub.servers import EmbeddedTemporal, free_port
from omnihub.tools import Compensation, ToolSpec, default_registry, open_database, tool

WRITE = default_registry().get("database_write")
GUARDED = tool(
    name="guarded_write",
    side_effect=True,
    risk="red",
    requires_approval=True,
    description="database_write after a person approves it.",
    compensation=Compensation(
        "database_delete", {"table": "input.table", "id": "output.record_id"}
    ),
)(WRITE.func)


def plan(*, guarded: bool = False) -> dict[str, Any]:
    second = "guarded_write" if guarded else "database_write"
    return {
        "steps": [
            {
                "id": "s1",
                "tool": "database_write",
                "args": {"table": "orders", "values": {"sku": "a"}},
            },
            {
                "id": "s2",
                "tool": second,
                "args": {"table": "orders", "values": {"sku": "b"}},
                "depends_on": ["s1"],
            },
            {
                "id": "s3",
                "tool": "respond_to_user",
                "args": {"message": "booked"},
                "depends_on": ["s2"],
            },
        ]
    }


@dataclass
class Stack:
    client: httpx.AsyncClient
    settings: Settings
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def submit(self, who: str = "operator", **body: Any) -> str:
        response = await self.client.post(
            "/v1/goals", json={"goal": "book it", **body}, headers=self.auth(who)
        )
        assert response.status_code == 202, response.text
        goal_id: str = response.json()["goal_id"]
        return goal_id

    async def wait_status(
        self, goal_id: str, *statuses: str, who: str = "viewer"
    ) -> dict[str, Any]:
        async with asyncio.timeout(30):
            while True:
                response = await self.client.get(f"/v1/goals/{goal_id}", headers=self.auth(who))
                state: dict[str, Any] = response.json()
                if state.get("status") in statuses:
                    return state
                await asyncio.sleep(0.1)

    def rows(self) -> list[str]:
        database = open_database(self.settings.resolved_tools_database_url)
        try:
            with database.transaction() as cursor:
                cursor.execute("SELECT sku FROM orders ORDER BY sku")
                return [row["sku"] for row in cursor.fetchall()]
        finally:
            database.close()


@asynccontextmanager
async def run_stack(
    temporal_server: EmbeddedTemporal, *, planner: bool, tools: Sequence[ToolSpec] = ()
) -> AsyncIterator[Stack]:
    """Worker (with the playbook planner and plan cache when ``planner``, and ``tools``
    besides the built-in ones) and API server."""
    settings = load_settings(
        temporal_address=temporal_server.address,
        task_queue=f"api-{uuid.uuid4().hex[:8]}",
        tools_allowed_tables=["orders", "bookings"],
        api_port=free_port(),
    )
    database = open_database(settings.resolved_tools_database_url)
    with database.transaction() as cursor:
        cursor.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, tenant_id TEXT, sku TEXT)")
        cursor.execute(
            "CREATE TABLE bookings (id TEXT PRIMARY KEY, tenant_id TEXT, kind TEXT, origin TEXT,"
            " destination TEXT, date TEXT)"
        )
    database.close()
    # Keys are created before the server starts, as `omnihub keys create` before `omnihub up`.
    store = open_key_store(settings.resolved_api_keys_url)
    keys = {
        "operator": store.create("acme", Role.OPERATOR).key,
        # A second operator: nobody approves the steps of a goal they submitted.
        "approver": store.create("acme", Role.OPERATOR).key,
        "viewer": store.create("acme", Role.VIEWER).key,
        "other": store.create("globex", Role.ADMIN).key,
    }
    store.close()
    registry = default_registry([GUARDED, *tools])
    planning = build_planning_service(settings, registry) if planner else None
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(
            settings,
            registry=registry,
            planner=SagaPlanProvider(planning) if planning else None,
            stop=stop,
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, sse_keepalive_seconds=0.5),
            host="127.0.0.1",
            port=settings.api_port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            assert not serving.done(), serving
            await asyncio.sleep(0.02)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=30)
    try:
        yield Stack(client, settings, keys)
    finally:
        await client.aclose()
        server.should_exit = True
        await serving
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        if planning is not None:
            await planning.aclose()


@pytest.fixture
async def stack(temporal_server: EmbeddedTemporal) -> AsyncIterator[Stack]:
    async with run_stack(temporal_server, planner=False) as built:
        yield built


async def test_planned_goals_hit_the_plan_cache_and_stats_and_usage_show_it(
    temporal_server: EmbeddedTemporal,
) -> None:
    async with run_stack(temporal_server, planner=True) as stack:
        first = await stack.submit(goal="Book a train from Lyon to Nice on 3 March 2027")
        await stack.wait_status(first, "completed")
        second = await stack.submit(goal="Book a train from Turin to Bern on 4 April 2027")
        done = await stack.wait_status(second, "completed")
        # The cached plan, with this request's values injected.
        assert done["result"]["answer"] == "Your train from Turin to Bern on 2027-04-04 is booked."
        stats = (await stack.client.get("/v1/cache/stats", headers=stack.auth("viewer"))).json()
        assert stats["tenant"] == "acme"
        assert stats["plans"] == 2
        # The first goal is planned by a playbook; the second, similar one is a cache hit.
        sources = []
        for goal_id in (first, second):
            events = await stack.client.get(
                f"/v1/goals/{goal_id}/events", headers=stack.auth("viewer")
            )
            sources += [
                e["payload"]["source"] for e in events.json() if e["event_type"] == "PlanGenerated"
            ]
        assert sources == ["playbook", "cache"]
        assert stats["by_source"] == {"playbook": 1, "cache": 1}
        assert stats["hits"] == 1
        assert stats["ledger_cache_hits"] == 1
        other = (await stack.client.get("/v1/cache/stats", headers=stack.auth("other"))).json()
        assert (other["tenant"], other["plans"]) == ("globex", 0)
        usage = (await stack.client.get("/v1/usage", headers=stack.auth("viewer"))).json()
        assert usage["tenant"] == "acme"
        assert usage["totals"]["cache_hits"] == 1
        assert usage["totals"]["calls"] == 0  # playbooks make no LLM calls


async def test_readyz_checks_temporal_and_the_event_store(stack: Stack) -> None:
    ready = await stack.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"keys": "ok", "event_store": "ok", "temporal": "ok"}
    metrics = (await stack.client.get("/metrics", headers=stack.auth("other"))).text  # admin
    assert 'route="/readyz",status="200"' in metrics


async def test_goal_runs_and_its_state_events_and_stream_come_from_the_store(
    stack: Stack,
) -> None:
    headers = {**stack.auth("operator"), "Idempotency-Key": "order-1"}
    first = await stack.client.post(
        "/v1/goals", json={"goal": "book", "plan": plan()}, headers=headers
    )
    again = await stack.client.post(
        "/v1/goals", json={"goal": "book", "plan": plan()}, headers=headers
    )
    assert first.status_code == again.status_code == 202
    goal_id = first.json()["goal_id"]
    assert again.json()["goal_id"] == goal_id

    state = await stack.wait_status(goal_id, "completed")
    assert [s["status"] for s in state["steps"]] == ["completed"] * 3
    assert state["goal"] == "book"
    assert stack.rows() == ["a", "b"]  # one goal ran, once

    events = (
        await stack.client.get(f"/v1/goals/{goal_id}/events", headers=stack.auth("viewer"))
    ).json()
    types = [e["event_type"] for e in events]
    assert types[0] == "GoalReceived"
    assert types[-1] == "GoalCompleted"
    assert [e["stream_version"] for e in events] == list(range(1, len(events) + 1))

    resume = {**stack.auth("viewer"), "Last-Event-ID": "2"}
    async with stack.client.stream(
        "GET", f"/v1/goals/{goal_id}/stream", headers=resume
    ) as response:
        ids = [
            line.removeprefix("id: ")
            async for line in response.aiter_lines()
            if line.startswith("id: ")
        ]
    assert ids == [str(v) for v in range(3, len(events) + 1)]
    # Opened after the goal's final event, the stream ends at once (it used to wait for ever).
    ended = {**stack.auth("viewer"), "Last-Event-ID": str(len(events))}
    async with (
        asyncio.timeout(10),
        stack.client.stream("GET", f"/v1/goals/{goal_id}/stream", headers=ended) as response,
    ):
        lines = [line async for line in response.aiter_lines() if line.startswith("id: ")]
    assert (response.status_code, lines) == (200, [])

    listed = (
        await stack.client.get("/v1/goals?status=completed", headers=stack.auth("viewer"))
    ).json()
    assert [g["goal_id"] for g in listed["items"]] == [goal_id]
    other = await stack.client.get(f"/v1/goals/{goal_id}", headers=stack.auth("other"))
    assert other.status_code == 404
    assert (await stack.client.get("/v1/goals", headers=stack.auth("other"))).json()["items"] == []


async def test_live_stream_follows_a_goal_to_its_end(stack: Stack) -> None:
    goal_id = await stack.submit(plan=plan(guarded=True))
    url = f"/v1/goals/{goal_id}/stream"

    async def follow() -> list[str]:
        async with stack.client.stream("GET", url, headers=stack.auth("viewer")) as response:
            return [
                line.removeprefix("event: ")
                async for line in response.aiter_lines()
                if line.startswith("event: ")
            ]

    following = asyncio.create_task(follow())
    await stack.wait_status(goal_id, "awaiting_approval")
    approved = await stack.client.post(
        f"/v1/goals/{goal_id}/approvals/s2",
        json={"decision": "approve", "reason": "ok"},
        headers=stack.auth("approver"),
    )
    assert approved.status_code == 200
    seen = await asyncio.wait_for(following, 30)
    assert seen[0] == "GoalReceived"
    assert "ApprovalGranted" in seen
    assert seen[-1] == "GoalCompleted"


async def test_approvals_need_an_operator_of_the_goals_tenant(stack: Stack) -> None:
    goal_id = await stack.submit(plan=plan(guarded=True))
    await stack.wait_status(goal_id, "awaiting_approval")
    url = f"/v1/goals/{goal_id}/approvals/s2"
    body = {"decision": "approve"}
    viewer = await stack.client.post(url, json=body, headers=stack.auth("viewer"))
    assert viewer.status_code == 403
    other = await stack.client.post(url, json=body, headers=stack.auth("other"))
    assert other.status_code == 404
    wrong_step = await stack.client.post(
        f"/v1/goals/{goal_id}/approvals/s1", json=body, headers=stack.auth("approver")
    )
    assert wrong_step.status_code == 422
    # The key that submitted the goal may not approve its steps (the default policy's
    # no-self-approval), and its refused approval leaves the goal waiting.
    own = await stack.client.post(url, json=body, headers=stack.auth("operator"))
    assert own.status_code == 403, own.text
    assert "no-self-approval" in own.json()["error"]["message"]
    assert (await stack.wait_status(goal_id, "awaiting_approval"))["status"] == "awaiting_approval"
    approved = await stack.client.post(url, json=body, headers=stack.auth("approver"))
    assert approved.status_code == 200
    step = next(s for s in approved.json()["steps"] if s["step_id"] == "s2")
    assert step["approval_decided_by"].startswith("key:")
    await stack.wait_status(goal_id, "completed")
    assert stack.rows() == ["a", "b"]


async def test_rejection_fails_the_goal_and_compensates(stack: Stack) -> None:
    goal_id = await stack.submit(plan=plan(guarded=True))
    await stack.wait_status(goal_id, "awaiting_approval")
    rejected = await stack.client.post(
        f"/v1/goals/{goal_id}/approvals/s2",
        json={"decision": "reject", "reason": "too expensive"},
        headers=stack.auth("operator"),
    )
    assert rejected.status_code == 200
    state = await stack.wait_status(goal_id, "failed")
    assert [c["step_id"] for c in state["compensations"]] == ["s1"]
    assert stack.rows() == []


async def test_cancel_pause_and_resume(stack: Stack) -> None:
    goal_id = await stack.submit(plan=plan(guarded=True))
    await stack.wait_status(goal_id, "awaiting_approval")
    for action in ("pause", "resume"):
        r = await stack.client.post(f"/v1/goals/{goal_id}/{action}", headers=stack.auth("operator"))
        assert r.status_code == 202
        assert r.json()["goal_id"] == goal_id
    assert (
        await stack.client.post(f"/v1/goals/{goal_id}/cancel", headers=stack.auth("viewer"))
    ).status_code == 403
    assert (
        await stack.client.post(f"/v1/goals/{goal_id}/cancel", headers=stack.auth("other"))
    ).status_code == 404
    cancelled = await stack.client.post(
        f"/v1/goals/{goal_id}/cancel",
        json={"reason": "changed my mind"},
        headers=stack.auth("operator"),
    )
    assert cancelled.status_code == 202
    state = await stack.wait_status(goal_id, "cancelled")
    assert [c["step_id"] for c in state["compensations"]] == ["s1"]
    assert stack.rows() == []


async def test_unknown_goal_is_404_everywhere(stack: Stack) -> None:
    for method, path in [
        ("GET", "/v1/goals/0190a7d2-0000-7000-8000-000000000000"),
        ("GET", "/v1/goals/nope/events"),
        ("GET", "/v1/goals/nope/stream"),
        ("POST", "/v1/goals/nope/cancel"),
    ]:
        response = await stack.client.request(method, path, headers=stack.auth("operator"))
        assert response.status_code == 404, (path, response.text)
    approve = await stack.client.post(
        "/v1/goals/nope/approvals/s1", json={"decision": "approve"}, headers=stack.auth("operator")
    )
    assert approve.status_code == 404


async def test_generated_requests_against_the_real_stack_get_no_server_error(
    stack: Stack,
) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    base = str(stack.client.base_url)
    headers = stack.auth("operator")

    def fuzz() -> None:  # in a thread: its blocking HTTP calls must not stall the server's loop
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        for operation in [result.ok() for result in schema.get_all_operations()]:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=8,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                # Only the server-error check: the schema is exercised fully on the ASGI app.
                response = case.call(base_url=base, headers=headers, timeout=30)
                assert response.status_code < 500, (case.path, response.text)

            check()

    await asyncio.to_thread(fuzz)


def _nested(depth: int) -> dict[str, Any]:
    return {"a": json.loads("[" * depth + "]" * depth)}


async def test_inputs_that_would_leave_a_goal_stuck_are_refused_with_422(stack: Stack) -> None:
    """Each of these was accepted (202) or a 500 before, and left a goal that never ended."""
    chain = [
        {"id": f"s{i}", "tool": "respond_to_user", "args": {"message": "hi"}}
        | ({"depends_on": [f"s{i + 1}"]} if i < 1499 else {})
        for i in range(1500)
    ]
    bodies: list[tuple[str, bytes]] = [
        ("nests deeper", json_bytes({"goal": "g", "context": _nested(200)})),
        ("nests deeper", json_bytes({"goal": "g", "context": _nested(600)})),
        ("over the limit", json_bytes({"goal": "g", "context": {"a": "x" * 300_000}})),
        ("1500 steps", json_bytes({"goal": "g", "plan": {"steps": chain}})),
        ("JSON cannot carry", b'{"goal": "g", "context": {"n": NaN}}'),
        ("JSON cannot carry", b'{"goal": "g", "context": {"n": -Infinity}}'),
        ("only whitespace", json_bytes({"goal": " \t\n "})),
    ]
    headers = {**stack.auth("operator"), "Content-Type": "application/json"}
    for expected, body in bodies:
        response = await stack.client.post("/v1/goals", content=body, headers=headers)
        assert response.status_code == 422, (expected, response.text[:300])
        assert expected in response.json()["error"]["message"]
    listed = await stack.client.get("/v1/goals", headers=stack.auth("viewer"))
    assert listed.json()["items"] == []  # nothing half-started
    # Within the limits a goal still runs to its end.
    goal_id = await stack.submit(plan=plan(), context=_nested(20))
    assert (await stack.wait_status(goal_id, "completed", "failed"))["status"] == "completed"


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()
