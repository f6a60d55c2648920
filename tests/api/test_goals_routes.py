from __future__ import annotations

import asyncio

import httpx
from api_support import Api

from omnihub.auth import Role

GOAL = {"goal": "book a train from Lyon to Nice", "context": {"class": 2}}


async def test_submit_returns_202_with_the_goal_id(api: Api) -> None:
    key = api.key()
    response = await api.client.post("/v1/goals", json=GOAL, headers=api.auth(key))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "running"
    assert body["goal_id"] in api.goals.goals


async def test_idempotency_key_returns_the_same_goal(api: Api) -> None:
    headers = {**api.auth(api.key()), "Idempotency-Key": "order-42"}
    first = await api.client.post("/v1/goals", json=GOAL, headers=headers)
    again = await api.client.post("/v1/goals", json=GOAL, headers=headers)
    assert first.json()["goal_id"] == again.json()["goal_id"]
    assert api.goals.submits == 1
    other = await api.client.post(
        "/v1/goals", json=GOAL, headers={**headers, "Idempotency-Key": "order-43"}
    )
    assert other.json()["goal_id"] != first.json()["goal_id"]
    assert api.goals.submits == 2


async def test_concurrent_retries_with_one_idempotency_key_start_one_goal(api: Api) -> None:
    headers = {**api.auth(api.key()), "Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(api.client.post("/v1/goals", json=GOAL, headers=headers) for _ in range(8))
    )
    assert {r.json()["goal_id"] for r in responses} == {responses[0].json()["goal_id"]}
    assert api.goals.submits == 1


async def test_idempotency_key_reused_with_another_body_is_409(api: Api) -> None:
    headers = {**api.auth(api.key()), "Idempotency-Key": "k1"}
    await api.client.post("/v1/goals", json=GOAL, headers=headers)
    response = await api.client.post("/v1/goals", json={"goal": "other"}, headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert "different request body" in response.json()["error"]["message"]


async def test_idempotency_keys_are_per_tenant(api: Api) -> None:
    acme = {**api.auth(api.key("acme")), "Idempotency-Key": "same"}
    globex = {**api.auth(api.key("globex")), "Idempotency-Key": "same"}
    a = await api.client.post("/v1/goals", json=GOAL, headers=acme)
    b = await api.client.post("/v1/goals", json=GOAL, headers=globex)
    assert a.json()["goal_id"] != b.json()["goal_id"]


async def test_list_filters_by_status_and_paginates(api: Api) -> None:
    headers = api.auth(api.key())
    ids = []
    for i in range(5):
        r = await api.client.post("/v1/goals", json={"goal": f"goal {i}"}, headers=headers)
        ids.append(r.json()["goal_id"])
    await api.goals.emit(ids[0], "GoalCompleted", {})
    page1 = (await api.client.get("/v1/goals?limit=2", headers=headers)).json()
    page2 = (
        await api.client.get(f"/v1/goals?limit=2&cursor={page1['next_cursor']}", headers=headers)
    ).json()
    assert [g["goal_id"] for g in page1["items"] + page2["items"]] == ids[::-1][:4]
    done = (await api.client.get("/v1/goals?status=completed", headers=headers)).json()
    assert [g["goal_id"] for g in done["items"]] == [ids[0]]


async def test_events_lists_the_goals_events_after_a_version(api: Api) -> None:
    headers = api.auth(api.key())
    goal_id = (await api.client.post("/v1/goals", json=GOAL, headers=headers)).json()["goal_id"]
    await api.goals.emit(goal_id, "PlanGenerated", {"steps": []})
    events = (await api.client.get(f"/v1/goals/{goal_id}/events", headers=headers)).json()
    assert [e["type"] for e in events] == ["GoalReceived", "PlanGenerated"]
    later = await api.client.get(f"/v1/goals/{goal_id}/events?after=1", headers=headers)
    assert [e["type"] for e in later.json()] == ["PlanGenerated"]


async def _read_sse(response: httpx.Response, count: int) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in current:
                events.append(current)
                if len(events) == count:
                    break
            current = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        current[name] = value
    return events


async def test_sse_streams_stored_then_live_events_and_resumes_with_last_event_id(
    live_api: Api,
) -> None:
    api = live_api
    headers = api.auth(api.key())
    goal_id = (await api.client.post("/v1/goals", json=GOAL, headers=headers)).json()["goal_id"]
    await api.goals.emit(goal_id, "PlanGenerated", {"steps": ["s1"]})
    url = f"/v1/goals/{goal_id}/stream"
    async with api.client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stored = await _read_sse(response, 2)
    assert [(e["id"], e["event"]) for e in stored] == [
        ("1", "GoalReceived"),
        ("2", "PlanGenerated"),
    ]

    async def later() -> None:
        await asyncio.sleep(0.3)  # longer than the keep-alive interval of these tests
        await api.goals.emit(goal_id, "StepStarted", {"step_id": "s1"})
        await api.goals.emit(goal_id, "GoalCompleted", {"result": "ok"})

    task = asyncio.create_task(later())
    resume = {**headers, "Last-Event-ID": "2"}
    async with api.client.stream("GET", url, headers=resume) as response:
        live = await _read_sse(response, 10)  # ends when the goal ends
    await task
    assert [(e["id"], e["event"]) for e in live] == [("3", "StepStarted"), ("4", "GoalCompleted")]
    assert live[1]["data"] == '{"result":"ok"}'


async def test_sse_for_an_unknown_goal_is_404(api: Api) -> None:
    response = await api.client.get("/v1/goals/nope/stream", headers=api.auth(api.key()))
    assert response.status_code == 404


async def test_approval_and_control_reach_the_goal_service(api: Api) -> None:
    headers = api.auth(api.key(role=Role.ADMIN))
    goal_id = (await api.client.post("/v1/goals", json=GOAL, headers=headers)).json()["goal_id"]
    approved = await api.client.post(
        f"/v1/goals/{goal_id}/approvals/approve-me",
        json={"decision": "approve", "reason": "fine"},
        headers=headers,
    )
    assert approved.status_code == 200
    assert approved.json()["goal_id"] == goal_id
    assert api.goals.goals[goal_id].events[-1].type == "ApprovalGranted"
    wrong_step = await api.client.post(
        f"/v1/goals/{goal_id}/approvals/s9", json={"decision": "reject"}, headers=headers
    )
    assert wrong_step.status_code == 422
    for action, status in [("pause", "paused"), ("resume", "running"), ("cancel", "cancelled")]:
        r = await api.client.post(
            f"/v1/goals/{goal_id}/{action}", json={"reason": "test"}, headers=headers
        )
        assert r.status_code == 202
        assert r.json() == {"goal_id": goal_id, "status": status}
