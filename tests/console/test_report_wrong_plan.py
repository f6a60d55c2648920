"""The goal page's "report wrong plan" button, over HTTP on the real stack: operators only,
with the form's CSRF token; the entry is evicted and the report recorded and counted."""

from __future__ import annotations

import uuid

from consolekit import Stack
from test_routes import csrf, signed_in

from cache_entries import remember_entry
from omnihub.auth import Role
from omnihub.cache import open_index
from omnihub.events import (
    PLAN_CACHE_STREAM,
    CacheDetails,
    GoalReceived,
    NewEvent,
    PlanGenerated,
    PlanReportedWrong,
)
from omnihub.plans import PlanStep


def _cached_goal(stack: Stack) -> tuple[str, str]:
    """A goal whose plan came from a real plan-cache entry: (goal id, entry id)."""
    entry_id = remember_entry(stack.settings, "acme")
    goal_id = f"g-{uuid.uuid4().hex[:8]}"
    plan = PlanGenerated(
        plan_id="p",
        steps=[PlanStep(id="s1", tool="book_train")],
        source="cache",
        cache=CacheDetails(entry_id=entry_id, similarity=0.97),
    )
    events = [GoalReceived(goal="book a train from Lyon to Nice", user_id="u"), plan]
    stack.store.append("acme", goal_id, [NewEvent(payload=e) for e in events])
    return goal_id, entry_id


async def test_an_operator_reports_a_wrong_plan_from_the_goal_page(stack: Stack) -> None:
    goal_id, entry_id = _cached_goal(stack)
    url = f"/console/goals/{goal_id}/report-wrong-plan"
    async with (
        signed_in(stack, stack.key()) as operator,
        signed_in(stack, stack.key(role=Role.VIEWER)) as viewer,
    ):
        page = await operator.get(f"/console/goals/{goal_id}")
        assert "Report wrong plan</button>" in page.text
        assert entry_id in page.text
        assert "Report wrong plan</button>" not in (await viewer.get(page.url.path)).text
        refused = await viewer.post(url, data={"csrf_token": await csrf(viewer)})
        assert refused.status_code == 403
        forged = await operator.post(url, data={"csrf_token": "0" * 64})
        assert forged.status_code == 403
        assert stack.store.read_stream("acme", PLAN_CACHE_STREAM) == []

        token = await csrf(operator)
        sent = await operator.post(url, data={"csrf_token": token, "reason": "wrong day"})
        assert sent.status_code == 303
        assert sent.headers["location"] == f"/console/goals/{goal_id}?reported=1"
        shown = await operator.get(sent.headers["location"])
        assert "evicted and counted as a false hit" in shown.text
        recorded = [e.payload for e in stack.store.read_stream("acme", PLAN_CACHE_STREAM)]
        assert len(recorded) == 1
        assert isinstance(recorded[0], PlanReportedWrong)
        assert (recorded[0].entry_id, recorded[0].reason, recorded[0].goal_id) == (
            entry_id,
            "wrong day",
            goal_id,
        )
        assert recorded[0].by.startswith("key:")
        index = open_index("memory", path=str(stack.settings.resolved_cache_path))
        assert index.count("acme") == 0
        index.close()
        stats = await stack.client.get(
            "/v1/cache/stats", headers={"Authorization": f"Bearer {stack.key()}"}
        )
        assert stats.json()["false_hit_reports"] == 1

        again = await operator.post(url, data={"csrf_token": token})
        assert again.headers["location"] == f"/console/goals/{goal_id}?reported=gone"
        assert len(stack.store.read_stream("acme", PLAN_CACHE_STREAM)) == 1
