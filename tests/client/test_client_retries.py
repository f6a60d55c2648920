"""The client's retry policy against the real app (its rate limiter and error handlers), with
the in-memory goal backend of the API tests passed in."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from api_support import MemoryGoals

from omnihub.api import create_app
from omnihub.auth import Role
from omnihub.client import ApiError, ApiUnavailableError, AsyncOmniHubClient
from omnihub.config import load_settings
from omnihub.errors import ValidationError
from omnihub.goals import GoalService
from omnihub.runtime import open_core_services
from omnihub.servers import free_port


@dataclass
class App:
    transport: httpx.ASGITransport
    key: str
    goals: MemoryGoals


@pytest.fixture
async def slow_app() -> AsyncIterator[App]:
    """The API with a rate limit of one request a second."""
    settings = load_settings(api_rate_limit_per_second=1, api_rate_limit_burst=1)
    services = await open_core_services(settings)
    goals = MemoryGoals()
    services.goals = GoalService(goals, services.idempotency)
    key = services.keys.create("acme", Role.OPERATOR).key
    try:
        yield App(httpx.ASGITransport(create_app(settings, services=services)), key, goals)
    finally:
        await services.aclose()


async def test_a_rate_limited_submit_waits_for_retry_after_and_succeeds(slow_app: App) -> None:
    async with AsyncOmniHubClient(
        "http://api", slow_app.key, transport=slow_app.transport
    ) as client:
        first = await client.submit("book it")
        started = time.monotonic()
        second = await client.submit("book it")  # 429 first, then accepted after Retry-After
        waited = time.monotonic() - started
    assert first.goal_id != second.goal_id
    assert waited >= 0.5  # it waited for the bucket instead of failing
    assert slow_app.goals.submits == 2


async def test_without_retries_the_rate_limit_is_an_api_error(slow_app: App) -> None:
    async with AsyncOmniHubClient(
        "http://api", slow_app.key, transport=slow_app.transport, retries=0
    ) as client:
        await client.submit("book it")
        with pytest.raises(ApiError) as limited:
            await client.submit("book it")
    assert (limited.value.status, limited.value.code) == (429, "rate_limited")
    assert limited.value.retry_after is not None
    assert limited.value.retry_after >= 1


async def test_an_unreachable_api_is_reported_after_the_retries() -> None:
    async with AsyncOmniHubClient(f"http://127.0.0.1:{free_port()}", "key", retries=1) as client:
        with pytest.raises(ApiUnavailableError):
            await client.get("g-1")


async def test_an_invalid_goal_request_is_refused_before_it_is_sent(slow_app: App) -> None:
    async with AsyncOmniHubClient(
        "http://api", slow_app.key, transport=slow_app.transport
    ) as client:
        with pytest.raises(ValidationError, match="invalid goal request"):
            await client.submit("", plan={"steps": []})
    assert slow_app.goals.submits == 0
