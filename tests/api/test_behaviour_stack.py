"""The API's behaviour on the real stack (Temporal, the event store, a saga worker, uvicorn),
not on the in-memory goal service: authentication, Idempotency-Key, SSE resumption with
Last-Event-ID, and what pause and resume do to the steps of a running goal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, Field
from test_goals_stack import Stack, plan, run_stack

from omnihub.servers import EmbeddedTemporal
from omnihub.tools import ToolContext, tool

# How long the paused goal is watched for a step that must not start.
_HOLD_S = 3.0


class WaitInput(BaseModel):
    seconds: float = Field(ge=0, le=20)


class WaitOutput(BaseModel):
    waited: float


async def _wait(args: WaitInput, ctx: ToolContext) -> WaitOutput:
    """Work for ``seconds``, heartbeating (a step long enough to pause a goal during it)."""
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.1)
        ctx.heartbeat()
    return WaitOutput(waited=args.seconds)


WAIT = tool(name="wait_a_while", description="Wait a few seconds.")(_wait)


@pytest.fixture
async def stack(temporal_server: EmbeddedTemporal) -> AsyncIterator[Stack]:
    async with run_stack(temporal_server, planner=False, tools=[WAIT]) as built:
        yield built


async def _events(stack: Stack, goal_id: str) -> list[dict[str, Any]]:
    response = await stack.client.get(f"/v1/goals/{goal_id}/events", headers=stack.auth("viewer"))
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def _step_event(events: list[dict[str, Any]], event_type: str, step: str) -> int | None:
    """The index of the first ``event_type`` of ``step``, None when there is none."""
    for index, event in enumerate(events):
        if event["event_type"] == event_type and event["payload"].get("step_id") == step:
            return index
    return None


async def _until_event(stack: Stack, goal_id: str, event_type: str, step: str) -> None:
    async with asyncio.timeout(30):
        # The API has no push for one event type; polling the events is what a client does.
        while _step_event(await _events(stack, goal_id), event_type, step) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_requests_without_a_valid_key_of_the_right_role_and_tenant_are_refused(
    stack: Stack,
) -> None:
    goal_id = await stack.submit(plan=plan())
    await stack.wait_status(goal_id, "completed")
    url = f"/v1/goals/{goal_id}"
    for headers in (
        {},
        {"Authorization": "Bearer ohk_not_a_key"},
        {"Authorization": f"Basic {stack.keys['operator']}"},
        {"Authorization": "Bearer"},
    ):
        refused = await stack.client.get(url, headers=headers)
        assert refused.status_code == 401, (headers, refused.text)
        assert refused.json()["error"]["code"] == "unauthenticated"
    # A viewer reads but does not act; another tenant's key does not even see the goal.
    assert (await stack.client.get(url, headers=stack.auth("viewer"))).json()["status"] == (
        "completed"
    )
    submitted = await stack.client.post(
        "/v1/goals", json={"goal": "book", "plan": plan()}, headers=stack.auth("viewer")
    )
    assert submitted.status_code == 403
    assert submitted.json()["error"]["code"] == "forbidden"
    hidden = await stack.client.get(url, headers=stack.auth("other"))
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    # Nothing refused started a goal: the operator's one goal wrote its two rows, once.
    assert stack.rows() == ["a", "b"]
    listed = (await stack.client.get("/v1/goals", headers=stack.auth("viewer"))).json()
    assert [g["goal_id"] for g in listed["items"]] == [goal_id]


async def test_an_idempotency_key_starts_one_goal_however_often_it_is_sent(
    stack: Stack,
) -> None:
    body = {"goal": "book", "plan": plan()}
    headers = {**stack.auth("operator"), "Idempotency-Key": "order-7"}
    # Five tries at once, as a client retrying over a flaky network might send them.
    tries = await asyncio.gather(
        *(stack.client.post("/v1/goals", json=body, headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in tries} == {202}, [r.text for r in tries]
    goal_ids = {r.json()["goal_id"] for r in tries}
    assert len(goal_ids) == 1
    goal_id = goal_ids.pop()
    await stack.wait_status(goal_id, "completed")
    later = await stack.client.post("/v1/goals", json=body, headers=headers)
    assert (later.status_code, later.json()["goal_id"]) == (202, goal_id)
    assert stack.rows() == ["a", "b"]  # the plan's effects happened once

    other_body = await stack.client.post(
        "/v1/goals", json={"goal": "book something else", "plan": plan()}, headers=headers
    )
    assert other_body.status_code == 409
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    # Keys belong to a tenant: the same key elsewhere is another goal.
    elsewhere = await stack.client.post(
        "/v1/goals", json=body, headers={**stack.auth("other"), "Idempotency-Key": "order-7"}
    )
    assert elsewhere.status_code == 202
    assert elsewhere.json()["goal_id"] != goal_id
    listed = (await stack.client.get("/v1/goals", headers=stack.auth("viewer"))).json()
    assert [g["goal_id"] for g in listed["items"]] == [goal_id]


async def test_a_stream_resumed_with_last_event_id_misses_and_repeats_nothing(
    stack: Stack,
) -> None:
    goal_id = await stack.submit(plan=plan(guarded=True))
    url = f"/v1/goals/{goal_id}/stream"

    async def read(headers: dict[str, str], stop_at: str | None) -> list[tuple[int, str]]:
        seen: list[tuple[int, str]] = []
        event_id = None
        async with stack.client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    event_id = int(line.removeprefix("id: "))
                elif line.startswith("event: ") and event_id is not None:
                    seen.append((event_id, line.removeprefix("event: ")))
                    if seen[-1][1] == stop_at:
                        break  # the client goes away mid-goal
        return seen

    # Live from the start until the goal waits for a person, then the connection drops.
    first = await asyncio.wait_for(read(stack.auth("viewer"), "ApprovalRequested"), 30)
    approved = await stack.client.post(
        f"/v1/goals/{goal_id}/approvals/s2",
        json={"decision": "approve"},
        headers=stack.auth("approver"),
    )
    assert approved.status_code == 200
    last = str(first[-1][0])
    rest = await asyncio.wait_for(
        read({**stack.auth("viewer"), "Last-Event-ID": last}, "GoalCompleted"), 30
    )
    ids = [event_id for event_id, _ in first + rest]
    events = await _events(stack, goal_id)
    assert ids == [e["stream_version"] for e in events]  # every event once, in order
    assert [kind for _, kind in first + rest] == [e["event_type"] for e in events]
    assert rest[0][0] == first[-1][0] + 1
    assert "ApprovalGranted" in [kind for _, kind in rest]


async def test_pause_holds_the_next_step_until_resume(stack: Stack) -> None:
    steps = {
        "steps": [
            {"id": "s1", "tool": "wait_a_while", "args": {"seconds": 1.5}},
            {
                "id": "s2",
                "tool": "database_write",
                "args": {"table": "orders", "values": {"sku": "after-pause"}},
                "depends_on": ["s1"],
            },
        ]
    }
    goal_id = await stack.submit(plan=steps)
    operator = stack.auth("operator")
    await _until_event(stack, goal_id, "StepStarted", "s1")
    paused = await stack.client.post(f"/v1/goals/{goal_id}/pause", headers=operator)
    assert paused.status_code == 202
    # The running step finishes; the next one must not start while the goal is paused.
    await _until_event(stack, goal_id, "StepCompleted", "s1")
    await asyncio.sleep(_HOLD_S)
    events = await _events(stack, goal_id)
    assert _step_event(events, "StepStarted", "s2") is None, [e["event_type"] for e in events]
    assert stack.rows() == []
    state = await stack.wait_status(goal_id, "paused")
    assert [s["status"] for s in state["steps"] if s["step_id"] == "s1"] == ["completed"]

    resumed = await stack.client.post(f"/v1/goals/{goal_id}/resume", headers=operator)
    assert resumed.status_code == 202
    await stack.wait_status(goal_id, "completed")
    assert stack.rows() == ["after-pause"]
    events = await _events(stack, goal_id)
    kinds = [e["event_type"] for e in events]
    started = _step_event(events, "StepStarted", "s2")
    assert started is not None
    # In the store's own order: paused, s1 done, resumed, and only then s2 started.
    assert kinds.index("GoalPaused") < kinds.index("GoalResumed") < started
    completed_s1 = _step_event(events, "StepCompleted", "s1")
    assert completed_s1 is not None
    assert completed_s1 < kinds.index("GoalResumed")
