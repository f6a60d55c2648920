"""``omnihub up``: the runtime's whole embedded stack with this package's API server.

The stack itself (Temporal, a worker, shutdown order) is :func:`omnihub.runtime.run_stack`;
this adapter only adds the API's server, which the runtime (below the API) cannot build.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from omnihub.api._server import build_server
from omnihub.config import Settings
from omnihub.runtime import ApiServer, StackInfo
from omnihub.runtime import run_stack as run_runtime_stack
from omnihub.saga import PlanProvider
from omnihub.tools import ToolRegistry


def _server(settings: Settings, host: str, port: int) -> ApiServer:
    return build_server(settings, host=host, port=port)


async def run_stack(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    registry: ToolRegistry | None = None,
    planner: PlanProvider | None = None,
    on_ready: Callable[[StackInfo], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run Temporal (embedded unless configured), a worker and the API until a signal (or
    ``stop``); raise ServerError when a part fails to start or dies."""
    await run_runtime_stack(
        settings,
        server=_server,
        host=host,
        port=port,
        registry=registry,
        planner=planner,
        on_ready=on_ready,
        stop=stop,
    )
