"""The API's own response bodies (errors, health); goal bodies are :mod:`omnihub.goals`'s."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorDetail(_Body):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for a person.")
    details: list[dict[str, Any]] | None = Field(
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
