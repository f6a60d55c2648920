"""The ASGI guard around every request: body size limit, metrics, and a last-resort 500.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so streamed responses (SSE) pass through
untouched and the body limit applies while the body is read, whatever its framing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnihub.api._errors import error_response
from omnihub.api._metrics import ApiMetrics

logger = logging.getLogger(__name__)


class GuardMiddleware:
    """Refuses bodies over ``max_body_bytes`` (413), times and counts every request, and turns
    an unexpected exception into a generic JSON 500 (logged with its traceback)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: ApiMetrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        limit = self.max_body_bytes

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"request body is over the limit of {limit} bytes")
            return message

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                response = error_response(
                    413,
                    "content_too_large",
                    f"request body is {declared} bytes, over the limit of {limit} bytes",
                )
                await response(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if response_started:
                raise
            await error_response(500, "internal_error", "internal server error")(
                scope, receive, send_wrapper
            )
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        state: dict[str, Any] = scope.get("state") or {}
        tenant = self.metrics.tenant_label(state.get("tenant_id"))
        method = str(scope.get("method", "-"))
        self.metrics.requests.labels(method, template, str(status), tenant).inc()
        self.metrics.latency.labels(method, template).observe(elapsed)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
