"""Mounting the console on the API's app: one call in the app factory."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from omnihub.config import Settings
from omnihub.console._console import Console
from omnihub.console._routes import create_console_router
from omnihub.console._session import COOKIE_PATH
from omnihub.errors import OmniHubError
from omnihub.events import EventStore

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def mount_console(app: FastAPI, settings: Settings, *, store: EventStore | None = None) -> Console:
    """Serve the console at ``/console`` on ``app`` (the API's app, whose
    ``app.state.services`` it uses for keys, rate limits and goals).

    The console's event-store reader is closed when the app shuts down; the returned
    :class:`Console` can also be closed directly (tests that never run the lifespan).
    """
    console = Console(settings, store)
    app.include_router(create_console_router(console))
    _install_error_pages(app, console)
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


def _install_error_pages(app: FastAPI, console: Console) -> None:
    """Errors of console pages as HTML pages; the app's own handlers keep every other path
    (and the redirects and htmx answers of the console) as they were."""

    async def default(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return await http_exception_handler(request, exc)
        raise exc

    for kind in (HTTPException, OmniHubError):
        previous: Handler = app.exception_handlers.get(kind, default)

        async def handler(
            request: Request, exc: Exception, previous: Handler = previous
        ) -> Response:
            answer = previous(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
            wants_page = (
                request.url.path.startswith(COOKIE_PATH + "/")
                and response.status_code >= 400
                and not request.headers.get("HX-Request")
            )
            if not wants_page:
                return response
            message = exc.detail if isinstance(exc, HTTPException) else str(exc)
            try:
                title = HTTPStatus(response.status_code).phrase
            except ValueError:
                title = "Error"
            headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
            page = console.render("error.html", title=title, message=message, user=None)
            return HTMLResponse(page, status_code=response.status_code, headers=headers)

        app.add_exception_handler(kind, handler)
