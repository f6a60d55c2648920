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

from omnihub.api._models import ErrorBody, ErrorCode
from omnihub.auth import IdempotencyKeyReusedError
from omnihub.errors import (
    AuthenticationError,
    ConcurrencyError,
    ConfigurationError,
    GoalEndedError,
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
_STATUS: list[tuple[type[OmniHubError], int, ErrorCode]] = [
    (SignatureError, 401, "invalid_signature"),
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConcurrencyError, 409, "conflict"),
    (GoalExistsError, 409, "goal_exists"),
    (GoalEndedError, 409, "goal_ended"),
    (IdempotencyKeyReusedError, 409, "idempotency_key_reused"),
    (RateLimitedError, 429, "rate_limited"),
    (ValidationError, 422, "validation_error"),
    (StoreUnavailableError, 503, "unavailable"),
    (ServerError, 503, "unavailable"),
    (ConfigurationError, 503, "unavailable"),
]


_ERROR_DESCRIPTIONS = {
    401: "Missing, unknown or revoked API key, or a bad request signature.",
    403: "The key's role may not do this.",
    404: "No such goal for the caller's tenant.",
    409: "A conflict with the goal's state: it exists already, it has ended, or the "
    "idempotency key was used with another request.",
    413: "The request body is over the size limit.",
    422: "The request is invalid; ``details`` lists each problem.",
    429: "The tenant is over its request rate.",
    503: "A dependency (Temporal, the event store, the cache) is unavailable.",
}
_ERROR_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The authentication scheme to use: `Bearer`.",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the one error body and the
    headers it carries, plus a ``default`` for anything unexpected (a 500)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[status]}
        if status in _ERROR_HEADERS:
            entry["headers"] = _ERROR_HEADERS[status]
        responses[status] = entry
    responses["default"] = {"model": ErrorBody, "description": "An unexpected error."}
    return responses


def error_response(
    status: int,
    code: ErrorCode,
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


# Codes of HTTP errors raised by routing, limits and the console; every other status is
# ``http_error``, so the code is always one of :data:`ErrorCode`.
_HTTP_CODES: dict[int, ErrorCode] = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "content_too_large",
    503: "unavailable",
}


def _http_code(status: int) -> ErrorCode:
    return _HTTP_CODES.get(status, "http_error")


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _http_code(exc.status_code)
    if isinstance(exc.detail, str):
        message = exc.detail
    else:
        try:
            message = HTTPStatus(exc.status_code).phrase
        except ValueError:
            message = "HTTP error"
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _on_omnihub_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OmniHubError)
    return omnihub_error_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the API's shape."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(OmniHubError, _on_omnihub_error)
