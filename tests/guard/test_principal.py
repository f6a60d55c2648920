"""The policy decides a goal as the API key that submitted it: the key's id and role travel
from GoalService.submit into the goal's GoalReceived event, which the saga's guard reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from omnihub.events import GoalReceived, NewEvent, PlanGenerated, open_event_store
from omnihub.guard import Guard
from omnihub.planning import PlanRequest
from omnihub.saga import GoalSpec
from omnihub.saga._guardrail import SagaGuard, principal_for
from omnihub.tools import default_registry

ARGS = {"to": ["dana@example.com"], "subject": "hi", "body": "hello"}


def _decide(tmp_path: Path, received: GoalReceived) -> tuple[str, tuple[str, ...]]:
    plan = PlanGenerated.model_validate(
        {
            "plan_id": "g/plan",
            "steps": [{"id": "s1", "tool": "send_email", "args": ARGS}],
            "source": "client",
        }
    )
    with open_event_store(f"sqlite:///{tmp_path / 'e.db'}") as store:
        store.append("acme", "g", [NewEvent(payload=received), NewEvent(payload=plan)])
        guard = SagaGuard(Guard(default_registry()), store)
        check = guard.check_step(
            tenant_id="acme", goal_id="g", step_id="s1", tool="send_email", args=ARGS
        )
    return check.decision.outcome, check.decision.policy_ids


def test_a_viewer_keys_goal_is_decided_as_the_viewer(tmp_path: Path) -> None:
    received = GoalReceived(
        goal="Email Dana hello", user_id="dana", submitter_id="k-1", submitter_role="viewer"
    )
    assert _decide(tmp_path, received) == ("forbid", ("viewers-do-not-act",))


def test_an_operator_keys_goal_runs_as_the_operator(tmp_path: Path) -> None:
    received = GoalReceived(
        goal="Email Dana hello", user_id="dana", submitter_id="k-2", submitter_role="operator"
    )
    assert _decide(tmp_path, received)[0] == "permit"


def test_the_principal_is_the_key_when_there_is_one() -> None:
    key = principal_for("acme", "dana", "k-1", "admin")
    assert (key.id, key.kind, key.role) == ("k-1", "ApiKey", "admin")
    local = principal_for("acme", "dana")
    assert (local.id, local.kind, local.role) == ("dana", "User", "operator")


def test_planning_requests_carry_the_submitter() -> None:
    spec = GoalSpec(
        goal_id="g", tenant_id="acme", goal="hi", submitter_id="k-9", submitter_role="viewer"
    )
    request = PlanRequest.for_goal(spec, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert (request.user_id, request.role) == ("k-9", "viewer")
