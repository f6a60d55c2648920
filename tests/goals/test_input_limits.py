"""The one set of input limits and the goal service that applies them for every adapter."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from omnihub.config import InputLimits, input_limits, load_settings
from omnihub.errors import NotFoundError, OmniHubError, StoreUnavailableError, ValidationError
from omnihub.goals import GoalAccepted, GoalRequest, GoalService
from omnihub.goals._backend import temporal_errors


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_is_checked_without_recursion_even_far_past_the_stack() -> None:
    limits = InputLimits(max_depth=8)
    limits.check_json({"a": nested(7)}, "context")
    with pytest.raises(ValidationError, match="deeper than the limit of 8"):
        limits.check_json({"a": nested(8)}, "context")
    with pytest.raises(ValidationError, match="deeper"):
        limits.check_json(nested(200_000), "context")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_numbers_json_cannot_carry_are_refused(bad: float) -> None:
    with pytest.raises(ValidationError, match="JSON cannot carry"):
        InputLimits().check_json({"ok": [1, {"x": bad}]}, "context")


def test_the_size_limit_is_the_event_stores_payload_limit() -> None:
    limits = input_limits(load_settings(max_payload_bytes=4096))
    assert limits.max_bytes == 4096
    limits.check_json({"a": "x" * 3000}, "context")
    with pytest.raises(ValidationError, match="over the limit of 4096"):
        limits.check_json({"a": "x" * 5000}, "context")
    with pytest.raises(ValidationError, match="lone surrogate"):
        limits.check_json({"a": "\ud800"}, "context")


class Recorder:
    """A goal backend that records what it was asked to start."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def submit(
        self, tenant_id: str, goal_id: str, request: GoalRequest, *, submitter: Any = None
    ) -> GoalAccepted:
        self.started.append(goal_id)
        return GoalAccepted(goal_id=goal_id, status="new")


async def test_the_service_refuses_over_limit_requests_before_anything_starts() -> None:
    backend = Recorder()
    service = GoalService(backend, limits=InputLimits(max_depth=4, max_plan_steps=2))  # type: ignore[arg-type]
    steps = [{"id": f"s{i}", "tool": "t"} for i in range(3)]
    for request, message in [
        (GoalRequest(goal="g", context={"a": nested(4)}), "nests deeper"),
        (GoalRequest(goal="g", context={"a": math.nan}), "JSON cannot carry"),
        (GoalRequest.model_validate({"goal": "g", "plan": {"steps": steps}}), "3 steps"),
    ]:
        with pytest.raises(ValidationError, match=message):
            await service.submit("acme", request)
    assert backend.started == []
    accepted = await service.submit("acme", GoalRequest(goal="g", context={"a": nested(2)}))
    assert backend.started == [accepted.goal_id]


def test_a_whitespace_goal_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="only whitespace"):
        GoalRequest.model_validate(json.loads('{"goal": " \\t "}'))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (RPCStatusCode.NOT_FOUND, NotFoundError),
        (RPCStatusCode.INVALID_ARGUMENT, ValidationError),
        (RPCStatusCode.FAILED_PRECONDITION, ValidationError),
        (RPCStatusCode.UNAVAILABLE, StoreUnavailableError),
        (RPCStatusCode.DEADLINE_EXCEEDED, StoreUnavailableError),
        (RPCStatusCode.RESOURCE_EXHAUSTED, StoreUnavailableError),
    ],
)
def test_temporal_rpc_errors_become_typed_errors(
    status: RPCStatusCode, expected: type[OmniHubError]
) -> None:
    with pytest.raises(expected), temporal_errors("g-1"):
        raise RPCError("boom", status, b"")
