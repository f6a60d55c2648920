"""Fixtures of the API tests (helpers live in api_support)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from api_support import Api, ApiFactory, MemoryGoals

from omnihub.api import create_app
from omnihub.config import load_settings
from omnihub.goals import GoalService
from omnihub.runtime import open_core_services
from omnihub.servers import free_port


@pytest.fixture
async def api_factory() -> AsyncIterator[ApiFactory]:
    """Builds an :class:`Api` with settings overrides; everything is closed at the end.

    With ``live=True`` the app runs in a real uvicorn server on loopback (needed for streamed
    responses: httpx's ASGI transport buffers the whole body); otherwise requests go through
    httpx's ASGI transport.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def make(*, live: bool = False, **overrides: Any) -> Api:
            settings = load_settings(**overrides)
            services = await open_core_services(settings)
            stack.push_async_callback(services.aclose)
            goals = MemoryGoals()
            services.goals = GoalService(goals, services.idempotency)
            app = create_app(settings, services=services, sse_keepalive_seconds=0.2)
            if live:
                port = free_port()
                server = uvicorn.Server(
                    uvicorn.Config(
                        app,
                        host="127.0.0.1",
                        port=port,
                        log_level="warning",
                        timeout_graceful_shutdown=1,
                    )
                )
                task = asyncio.create_task(server.serve())

                async def stop() -> None:
                    server.should_exit = True
                    await task

                stack.push_async_callback(stop)
                while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
                    await asyncio.sleep(0.01)
                client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
            else:
                client = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app), base_url="http://api"
                )
            stack.push_async_callback(client.aclose)
            return Api(client, services, goals, settings)

        yield make


@pytest.fixture
async def api(api_factory: ApiFactory) -> Api:
    result: Api = await api_factory()
    return result


@pytest.fixture
async def live_api(api_factory: ApiFactory) -> Api:
    result: Api = await api_factory(live=True)
    return result
