"""Serving the API with uvicorn: one server object, stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
from collections.abc import Generator

import uvicorn

from omnihub.api._app import create_app
from omnihub.config import Settings
from omnihub.runtime import configure_observability


class ApiServer(uvicorn.Server):
    """uvicorn's server, except that stopping on SIGINT/SIGTERM ends the process with status
    0: a requested shutdown is the normal way out, not a failure to report (uvicorn re-raises
    the signal after shutting down, which makes the exit status -15)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def build_server(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> ApiServer:
    """A server for the API of ``settings`` (host and port default to the settings)."""
    configure_observability(settings, "omnihub-api")  # obs: logging and tracing of the process
    return ApiServer(
        uvicorn.Config(
            create_app(settings),
            host=host or settings.api_host,
            port=settings.api_port if port is None else port,
            log_level=settings.log_level.lower(),
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )
