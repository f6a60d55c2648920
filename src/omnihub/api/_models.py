"""The API's own response bodies (errors, health); goal bodies are :mod:`omnihub.goals`'s."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Every ``error.code`` the API sends: the OmniHub error table of ``_errors.py``, the HTTP
# errors of routing and the body limit, and the catch-all 500. Clients switch on these.
ErrorCode = Literal[
    "conflict",
    "content_too_large",
    "forbidden",
    "goal_ended",
    "goal_exists",
    "http_error",
    "idempotency_key_reused",
    "internal_error",
    "invalid_signature",
    "method_not_allowed",
    "not_found",
    "rate_limited",
    "unauthenticated",
    "unavailable",
    "validation_error",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValidationIssue(_Body):
    """One problem with one field of a request."""

    loc: list[str] = Field(description='Where: e.g. ["body", "goal"] or ["header", "x-y"].')
    msg: str = Field(description="What is wrong, for a person.")
    type: str = Field(description="Pydantic's machine-readable error type.")


class ErrorDetail(_Body):
    code: ErrorCode = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for a person.")
    details: list[ValidationIssue] | None = Field(
        None, description="Per-field problems for validation errors."
    )


class ErrorBody(_Body):
    """Every error response has this shape; it never contains a stack trace."""

    error: ErrorDetail


class HealthBody(_Body):
    status: str


class ReadinessBody(_Body):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]
