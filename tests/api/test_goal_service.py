"""The goal service's own rules: one id generator, idempotency keys, conflicts as 409."""

from __future__ import annotations

import re

import pytest
from api_support import MemoryGoals

from omnihub.api._errors import omnihub_error_response
from omnihub.config import load_settings
from omnihub.errors import GoalExistsError
from omnihub.goals import GoalRequest, GoalService, new_goal_id
from omnihub.runtime import open_core_services

_UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_goal_ids_are_time_sortable_uuid7() -> None:
    first, second = new_goal_id(), new_goal_id()
    assert _UUID7.match(first)
    assert _UUID7.match(second)
    assert first[:13] <= second[:13]  # the millisecond prefix never goes back


async def test_a_named_goal_started_twice_is_a_conflict_not_a_validation_error() -> None:
    goals = GoalService(MemoryGoals())
    request = GoalRequest(goal="book a table")
    await goals.submit("acme", request, goal_id="g-1")
    with pytest.raises(GoalExistsError) as raised:
        await goals.submit("acme", request, goal_id="g-1")
    assert raised.value.goal_id == "g-1"
    assert omnihub_error_response(raised.value).status_code == 409


async def test_an_idempotency_key_returns_the_first_goal_once_started() -> None:
    services = await open_core_services(load_settings())
    try:
        backend = MemoryGoals()
        goals = GoalService(backend, services.idempotency)
        request = GoalRequest(goal="refund order 12")
        first = await goals.submit("acme", request, idempotency_key="k1")
        again = await goals.submit("acme", request, idempotency_key="k1")
        other = await goals.submit("acme", request, idempotency_key="k2")
    finally:
        await services.aclose()
    assert again.goal_id == first.goal_id != other.goal_id
    assert backend.submits == 2
