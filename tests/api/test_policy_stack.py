"""The admin policy routes on the real stack: a change applied through the API decides the
next step of a goal that is already running, and both the change and the decision are events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_goals_stack import Stack, run_stack

from omnihub.auth import Role, open_key_store
from omnihub.events import open_event_store
from omnihub.guard import POLICY_STREAM, default_policy_text
from omnihub.servers import EmbeddedTemporal

NO_WRITES = """
@id("no-more-writes")
forbid (principal, action == OmniHub::Action::"call", resource == OmniHub::Tool::"database_write");
"""


@pytest.fixture
async def stack(temporal_server: EmbeddedTemporal) -> AsyncIterator[Stack]:
    async with run_stack(temporal_server, planner=False) as built:
        keys = open_key_store(built.settings.resolved_api_keys_url)
        built.keys["admin"] = keys.create("acme", Role.ADMIN).key
        keys.close()
        yield built


def _approval_first() -> dict[str, object]:
    return {
        "steps": [
            {
                "id": "s1",
                "tool": "guarded_write",
                "args": {"table": "orders", "values": {"sku": "a"}},
            },
            {
                "id": "s2",
                "tool": "database_write",
                "args": {"table": "orders", "values": {"sku": "b"}},
                "depends_on": ["s1"],
            },
        ]
    }


async def test_a_policy_applied_through_the_api_decides_the_next_step_of_a_running_goal(
    stack: Stack,
) -> None:
    shown = await stack.client.get("/v1/admin/policies", headers=stack.auth("admin"))
    assert shown.status_code == 200
    assert shown.json()["version"] == 0
    assert "side-effect-tools" in shown.json()["policy_ids"]

    goal_id = await stack.submit(plan=_approval_first())
    await stack.wait_status(goal_id, "awaiting_approval")
    applied = await stack.client.post(
        "/v1/admin/policies",
        json={"policies": default_policy_text() + NO_WRITES, "reason": "freeze writes"},
        headers=stack.auth("admin"),
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["version"] == 1
    assert applied.json()["applied_by"].startswith("key:")
    approved = await stack.client.post(
        f"/v1/goals/{goal_id}/approvals/s1",
        json={"decision": "approve"},
        headers=stack.auth("approver"),
    )
    assert approved.status_code == 200, approved.text

    state = await stack.wait_status(goal_id, "failed", "completed")
    assert state["status"] == "failed"
    assert [c["step_id"] for c in state["compensations"]] == ["s1"]
    assert stack.rows() == []  # s1 ran and was undone; s2 never ran
    store = open_event_store(stack.settings.resolved_event_store_url)
    try:
        events = store.read_stream("acme", goal_id)
        decisions = [e.payload.model_dump() for e in events if e.event_type == "PolicyEvaluated"]
        planned = {d["step_id"]: d for d in decisions if d["phase"] == "plan"}
        assert planned["s1"]["outcome"] == "approval"
        assert planned["s2"]["outcome"] == "permit"
        assert planned["s2"]["version"] == 0
        decided = {d["step_id"]: d for d in decisions if d["phase"] == "step"}
        assert decided["s1"]["outcome"] == "permit"  # approved, and the new set still allows it
        assert decided["s1"]["version"] == 1
        assert decided["s2"]["outcome"] == "forbid"
        assert decided["s2"]["version"] == 1
        assert decided["s2"]["policy_ids"] == ["no-more-writes"]
        failed = [e.payload.model_dump() for e in events if e.event_type == "StepFailed"]
        assert failed[0]["step_id"] == "s2"
        assert "PolicyDeniedError" in failed[0]["error"]
        applied_events = store.read_stream("acme", POLICY_STREAM)
        assert [e.event_type for e in applied_events] == ["PolicySetApplied"]
        assert applied_events[0].payload.model_dump()["reason"] == "freeze writes"
    finally:
        store.close()


async def test_policy_routes_are_for_admins_and_reject_invalid_sets(stack: Stack) -> None:
    for who in ("operator", "viewer"):
        response = await stack.client.get("/v1/admin/policies", headers=stack.auth(who))
        assert response.status_code == 403
    invalid = await stack.client.post(
        "/v1/admin/policies",
        json={"policies": 'permit (principal, action == OmniHub::Action::"fly", resource);'},
        headers=stack.auth("admin"),
    )
    assert invalid.status_code == 422
    shown = await stack.client.get("/v1/admin/policies", headers=stack.auth("admin"))
    assert shown.json()["version"] == 0
    # Another tenant's admin sees (and changes) only its own tenant's set.
    other = await stack.client.get("/v1/admin/policies", headers=stack.auth("other"))
    assert other.json()["tenant_id"] == "globex"
