"""What the sync and async clients share: requests as data, signing, retries, SSE parsing.

Each API call is described once as a :class:`Call` (method, path, body, how to read the
answer); the two clients only send it, so they cannot drift apart.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import httpx
import pydantic
from pydantic import BaseModel

from omnihub.auth import sign_request, signing_secret_for
from omnihub.client._errors import ApiError
from omnihub.errors import ValidationError
from omnihub.events import EventEnvelope, GoalState, event_adapter, event_list_adapter
from omnihub.goals import (
    TERMINAL_EVENTS,
    CacheStats,
    GoalAccepted,
    GoalPage,
    GoalRequest,
    UsageReport,
)
from omnihub.plans import Plan

_T = TypeVar("_T")

__all__ = ["TERMINAL_EVENTS", "TERMINAL_STATUSES"]

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
# Answers that mean "not done, try again": the request was not acted on.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class SigningAuth(httpx.Auth):
    """``Authorization: Bearer KEY`` on every request and, with ``sign``, the HMAC signature
    headers of :func:`omnihub.auth.sign_request` (over method, path with query, body)."""

    requires_request_body = True

    def __init__(self, api_key: str, *, sign: bool) -> None:
        self._key = api_key
        self._secret = signing_secret_for(api_key) if sign else None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._key}"
        if self._secret is not None:
            path = request.url.raw_path.decode("ascii")
            request.headers.update(
                sign_request(self._secret, request.method, path, request.content)
            )
        yield request


@dataclass(frozen=True)
class Call(Generic[_T]):
    """One API request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], _T]
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Safe to send again after a transport error that may have reached the server.
    idempotent: bool = True

    def build(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        return client.build_request(
            self.method,
            self.path,
            params={k: v for k, v in self.params.items() if v is not None},
            json=self.body,
            headers=self.headers,
        )


def _model(model: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    return lambda response: model.model_validate_json(response.content)


def parse_events(data: str | bytes) -> list[EventEnvelope]:
    """A JSON array of events as their typed models."""
    return event_list_adapter().validate_json(data)


def parse_event(data: str | bytes) -> EventEnvelope:
    """One event (an SSE frame's ``data``) as its typed model."""
    return event_adapter().validate_json(data)


def error_of(response: httpx.Response) -> ApiError:
    """The API's error body as an :class:`ApiError` (a gateway's non-JSON answer too)."""
    retry_after: float | None = None
    if "Retry-After" in response.headers:
        try:
            retry_after = float(response.headers["Retry-After"])
        except ValueError:
            retry_after = None
    try:
        error = response.json()["error"]
        return ApiError(
            response.status_code,
            str(error["code"]),
            str(error["message"]),
            details=error.get("details"),
            retry_after=retry_after,
        )
    except (ValueError, KeyError, TypeError):
        text = response.text[:200] or response.reason_phrase
        return ApiError(response.status_code, "http_error", text, retry_after=retry_after)


def backoff(attempt: int, response: httpx.Response | None, cap: float = 10.0) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): the server's Retry-After when it
    sent one, else exponential with jitter."""
    if response is not None and "Retry-After" in response.headers:
        try:
            return min(cap, float(response.headers["Retry-After"]))
        except ValueError:
            pass
    return min(cap, 0.2 * 2.0 ** (attempt - 1)) * (0.5 + random.random() / 2)


def submit_call(
    goal: str,
    *,
    context: dict[str, Any] | None,
    user_id: str | None,
    plan: Plan | dict[str, Any] | None,
    idempotency_key: str | None,
) -> Call[GoalAccepted]:
    try:
        request = GoalRequest(
            goal=goal,
            context=context or {},
            user_id=user_id,
            plan=Plan.model_validate(plan) if isinstance(plan, dict) else plan,
        )
    except pydantic.ValidationError as exc:
        # Refused before anything is sent, with the same error class the server's 422 means.
        raise ValidationError(f"invalid goal request: {exc}") from exc
    # Every submission carries a key, so a retry after a lost answer returns the same goal
    # instead of starting a second one.
    key = idempotency_key or f"omnihub-client-{uuid.uuid4()}"
    return Call(
        "POST",
        "/v1/goals",
        _model(GoalAccepted),
        body=request.model_dump(mode="json", exclude_none=True),
        headers={"Idempotency-Key": key},
    )


def get_call(goal_id: str) -> Call[GoalState]:
    return Call("GET", f"/v1/goals/{goal_id}", _model(GoalState))


def list_call(status: str | None, limit: int, cursor: str | None) -> Call[GoalPage]:
    params = {"status": status, "limit": limit, "cursor": cursor}
    return Call("GET", "/v1/goals", _model(GoalPage), params=params)


def events_call(goal_id: str, after: int, limit: int) -> Call[list[EventEnvelope]]:
    return Call(
        "GET",
        f"/v1/goals/{goal_id}/events",
        lambda r: parse_events(r.content),
        params={"after": after, "limit": limit},
    )


def decide_call(goal_id: str, step_id: str, decision: str, reason: str | None) -> Call[GoalState]:
    return Call(
        "POST",
        f"/v1/goals/{goal_id}/approvals/{step_id}",
        _model(GoalState),
        body={"decision": decision, "reason": reason},
        idempotent=False,
    )


def control_call(goal_id: str, action: str, reason: str | None) -> Call[GoalAccepted]:
    return Call(
        "POST",
        f"/v1/goals/{goal_id}/{action}",
        _model(GoalAccepted),
        body={"reason": reason},
        idempotent=False,
    )


def cache_stats_call() -> Call[CacheStats]:
    return Call("GET", "/v1/cache/stats", _model(CacheStats))


def usage_call(since: datetime | None) -> Call[UsageReport]:
    params = {"since": since.isoformat() if since else None}
    return Call("GET", "/v1/usage", _model(UsageReport), params=params)


@dataclass
class Frame:
    """One Server-Sent Events frame."""

    id: str | None = None
    event: str = "message"
    data: list[str] = field(default_factory=list)


class SseParser:
    """Server-Sent Events lines in, frames out (the WHATWG event-stream format)."""

    def __init__(self) -> None:
        self._frame = Frame()

    def feed(self, lines: Iterable[str]) -> list[Frame]:
        frames: list[Frame] = []
        for line in lines:
            if line == "":
                if self._frame.data:
                    frames.append(self._frame)
                self._frame = Frame()
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                self._frame.id = value
            elif name == "event":
                self._frame.event = value
            elif name == "data":
                self._frame.data.append(value)
        return frames


def frame_event(frame: Frame) -> EventEnvelope:
    """The event a frame carries; ApiError for the server's ``error`` frame."""
    data = "\n".join(frame.data)
    if frame.event == "error":
        message = json.loads(data).get("message", "event stream failed")
        raise ApiError(500, "internal_error", str(message))
    return parse_event(data)
