"""One error shape for every response: ``{"error": {"code", "message", "details"}}``.

OmniHub errors map to HTTP statuses here, in one table; anything unexpected becomes a 500 with
a generic message (the traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnihub.auth import IdempotencyKeyReusedError
from omnihub.errors import (
    AuthenticationError,
    ConcurrencyError,
    ConfigurationError,
    GoalExistsError,
    NotFoundError,
    OmniHubError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SignatureError,
    StoreUnavailableError,
    ValidationError,
)

logger = logging.getLogger(__name__)

# Most specific first: the first matching class decides status and code.
_STATUS: list[tuple[type[OmniHubError], int, str]] = [
    (SignatureError, 401, "invalid_signature"),
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConcurrencyError, 409, "conflict"),
    (GoalExistsError, 409, "goal_exists"),
    (IdempotencyKeyReusedError, 409, "idempotency_key_reused"),
    (RateLimitedError, 429, "rate_limited"),
    (ValidationError, 422, "validation_error"),
    (StoreUnavailableError, 503, "unavailable"),
    (ServerError, 503, "unavailable"),
    (ConfigurationError, 503, "unavailable"),
]


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the API's one error shape."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def omnihub_error_response(exc: OmniHubError) -> JSONResponse:
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            headers: dict[str, str] = {}
            if isinstance(exc, AuthenticationError):
                headers["WWW-Authenticate"] = "Bearer"
            if isinstance(exc, RateLimitedError):
                headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
            return error_response(status, code, str(exc), headers=headers)
    logger.error("unmapped OmniHub error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err["type"],
        }
        for err in exc.errors()
    ]
    message = "; ".join(f"{_location(d['loc'])}: {d['msg']}" for d in details) or "invalid request"
    return error_response(422, "validation_error", message, details)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    except ValueError:
        code = "http_error"
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _on_omnihub_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OmniHubError)
    return omnihub_error_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the API's shape."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(OmniHubError, _on_omnihub_error)
