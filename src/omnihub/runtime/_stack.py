"""The whole embedded stack in one process: Temporal, a saga worker with the planner, the API.

``omnihub up`` runs :func:`run_stack`. Temporal is the embedded dev server under
``$OMNIHUB_HOME/temporal`` unless a cluster address is configured; the worker plans goals
with the configured planner behind the plan cache; the API (served by the server the caller
builds, since the API sits above this layer) listens on loopback by default. Ctrl-C or
SIGTERM stops the API, then the worker, then the Temporal server this process started, so
nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from omnihub.config import Settings
from omnihub.errors import ServerError
from omnihub.runtime._open import temporal_supervisor
from omnihub.runtime._telemetry import configure_observability
from omnihub.runtime._worker import run_worker
from omnihub.saga import PlanProvider
from omnihub.tools import ToolRegistry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackInfo:
    """Where the running stack can be reached (given to ``on_ready``)."""

    api_url: str
    temporal_address: str
    task_queue: str


class ApiServer(Protocol):
    """What the stack needs of the API's server (uvicorn's ``Server`` has it)."""

    started: bool
    should_exit: bool

    async def serve(self) -> None: ...


ServerFactory = Callable[[Settings, str, int], ApiServer]


async def run_stack(
    settings: Settings,
    *,
    server: ServerFactory,
    host: str | None = None,
    port: int | None = None,
    registry: ToolRegistry | None = None,
    planner: PlanProvider | None = None,
    on_ready: Callable[[StackInfo], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run Temporal (embedded unless configured), a worker and the API (``server(settings,
    host, port)``) until a signal (or ``stop``); ServerError when a part fails or dies."""
    configure_observability(settings, "omnihub")
    api_host, api_port = host or settings.api_host, settings.api_port if port is None else port
    _check_port_free(api_host, api_port)
    supervisor = temporal_supervisor(settings)
    temporal_address = settings.temporal_address or ""
    if supervisor is not None:
        temporal_address = await asyncio.to_thread(supervisor.ensure)
    worker_stop, worker_ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(
        run_worker(
            settings,
            registry=registry,
            planner=planner,
            stop=worker_stop,
            on_ready=worker_ready.set,
        )
    )
    api = server(settings, api_host, api_port)
    serving = asyncio.create_task(api.serve())
    stopping = asyncio.create_task((stop or asyncio.Event()).wait())
    try:
        while not (api.started and worker_ready.is_set()):
            if serving.done() or worker.done():
                raise ServerError("the OmniHub stack failed to start (see the log above)")
            await asyncio.sleep(0.05)
        if on_ready is not None:
            on_ready(
                StackInfo(f"http://{api_host}:{api_port}", temporal_address, settings.task_queue)
            )
        await asyncio.wait({serving, worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if worker.done() and not serving.done():
            raise ServerError("the saga worker stopped unexpectedly (see the log above)")
    finally:
        api.should_exit = True
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopping
        await _settle(serving, "API server")
        worker_stop.set()
        await _settle(worker, "worker")
        if supervisor is not None:
            await asyncio.to_thread(supervisor.stop)


def _check_port_free(host: str, port: int) -> None:
    """Fail before starting anything when the API's port is taken (uvicorn would exit)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServerError(f"cannot serve the API on {host}:{port}: {exc}") from exc


async def _settle(task: asyncio.Task[None], name: str) -> None:
    """Wait for ``task`` to end, logging (not raising) how it failed: shutdown goes on."""
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        logger.exception("%s failed", name)
