"""Mounting the console on the API's app: one call in the app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from omnihub.config import Settings
from omnihub.console._console import Console
from omnihub.console._routes import create_console_router
from omnihub.events import EventStore


def mount_console(app: FastAPI, settings: Settings, *, store: EventStore | None = None) -> Console:
    """Serve the console at ``/console`` on ``app`` (the API's app, whose
    ``app.state.services`` it uses for keys, rate limits and goals).

    The console's event-store reader is closed when the app shuts down; the returned
    :class:`Console` can also be closed directly (tests that never run the lifespan).
    """
    router = create_console_router(settings, store=store)
    console: Console = router.console  # type: ignore[attr-defined]
    app.include_router(router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        try:
            async with inner(target) as state:
                yield state
        finally:
            console.close()

    app.router.lifespan_context = lifespan
    return console
