"""What the client raises: the API's error body as a typed error."""

from __future__ import annotations

from typing import Any

from omnihub.errors import OmniHubError

__all__ = ["ApiError", "ApiUnavailableError", "WaitTimeoutError"]


class ApiError(OmniHubError):
    """The API answered with an error: ``status``, the stable ``code`` (``not_found``,
    ``goal_ended``, ``rate_limited``…), the ``details`` of a validation error, and for a 429
    the ``retry_after`` seconds it asked for."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.details = details or []
        self.retry_after = retry_after


class ApiUnavailableError(ApiError):
    """The API could not be reached (connection refused, timed out) after every retry."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "unreachable", message)


class WaitTimeoutError(OmniHubError):
    """A goal did not end within the time :meth:`OmniHubClient.wait` was given."""

    def __init__(self, goal_id: str, timeout: float, status: str) -> None:
        super().__init__(f"goal {goal_id!r} is still {status} after {timeout:g} s")
        self.goal_id = goal_id
        self.status = status
