"""The asyncio client: :class:`AsyncOmniHubClient`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from omnihub.client import _core as c
from omnihub.client._errors import ApiUnavailableError, WaitTimeoutError
from omnihub.events import EventEnvelope, GoalState
from omnihub.goals import CacheStats, GoalAccepted, GoalPage, UsageReport
from omnihub.plans import Plan

_T = TypeVar("_T")


class AsyncOmniHubClient:
    """The OmniHub API from asyncio code.

    ``sign=True`` signs every request (needed for keys created with ``--require-signature``).
    Requests that were not acted on (connection refused, 429, 502-504) are retried up to
    ``retries`` times, honouring ``Retry-After``; a goal submission always carries an
    idempotency key, so retrying it never starts a second goal.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        sign: bool = False,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self._http = httpx.AsyncClient(
            base_url=base_url,
            auth=c.SigningAuth(api_key, sign=sign),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncOmniHubClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: c.Call[_T]) -> _T:
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            try:
                response = await self._http.send(call.build(self._http))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt > self.retries:
                    raise ApiUnavailableError(str(exc)) from exc
            except httpx.TransportError as exc:
                # The request may have been acted on: only repeat what is safe to repeat.
                if attempt > self.retries or not call.idempotent:
                    raise ApiUnavailableError(str(exc)) from exc
            else:
                if response.is_success:
                    return call.parse(response)
                if response.status_code not in c.RETRY_STATUSES or attempt > self.retries:
                    raise c.error_of(response)
            await asyncio.sleep(c.backoff(attempt, response))

    async def submit(
        self,
        goal: str,
        *,
        context: dict[str, Any] | None = None,
        user_id: str | None = None,
        plan: Plan | dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> GoalAccepted:
        """Start a goal (with ``plan``, run that plan instead of asking the planner)."""
        return await self._send(
            c.submit_call(
                goal, context=context, user_id=user_id, plan=plan, idempotency_key=idempotency_key
            )
        )

    async def get(self, goal_id: str) -> GoalState:
        """The goal's state."""
        return await self._send(c.get_call(goal_id))

    async def list_goals(
        self, *, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> GoalPage:
        """One page of the tenant's goals, newest first."""
        return await self._send(c.list_call(status, limit, cursor))

    async def events(
        self, goal_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[EventEnvelope]:
        """The goal's stored events after stream version ``after``, typed per event type."""
        return await self._send(c.events_call(goal_id, after, limit))

    async def stream(self, goal_id: str, *, after: int = 0) -> AsyncIterator[EventEnvelope]:
        """The goal's events as they happen, until it ends. A dropped connection is resumed
        with ``Last-Event-ID``, so no event is lost or repeated."""
        last = after
        failures = 0
        while True:
            headers = {"Last-Event-ID": str(last)} if last else {}
            try:
                async with self._http.stream(
                    "GET", f"/v1/goals/{goal_id}/stream", headers=headers
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        raise c.error_of(response)
                    parser = c.SseParser()
                    async for line in response.aiter_lines():
                        for frame in parser.feed([line]):
                            event = c.frame_event(frame)
                            last = event.stream_version
                            failures = 0
                            yield event
                            if event.event_type in c.TERMINAL_EVENTS:
                                return
            except httpx.TransportError as exc:
                failures += 1
                if failures > self.retries:
                    raise ApiUnavailableError(str(exc)) from exc
                await asyncio.sleep(c.backoff(failures, None))
                continue
            # The server closed the stream without a terminal event: resume after the last.
            failures += 1
            if failures > self.retries:
                raise ApiUnavailableError(f"the event stream of goal {goal_id!r} kept closing")

    async def wait(
        self,
        goal_id: str,
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 - the same call as the blocking client's
        poll_interval: float = 0.5,
    ) -> GoalState:
        """The goal's state once it has ended (completed, failed or cancelled);
        WaitTimeoutError if it has not within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.get(goal_id)
            if state.status in c.TERMINAL_STATUSES:
                return state
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(goal_id, timeout, state.status)
            await asyncio.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))

    async def decide(
        self,
        goal_id: str,
        step_id: str,
        decision: Literal["approve", "reject"],
        *,
        reason: str | None = None,
    ) -> GoalState:
        """Approve or reject a step waiting for approval; the goal's state after it."""
        return await self._send(c.decide_call(goal_id, step_id, decision, reason))

    async def approve(self, goal_id: str, step_id: str, *, reason: str | None = None) -> GoalState:
        return await self.decide(goal_id, step_id, "approve", reason=reason)

    async def reject(self, goal_id: str, step_id: str, *, reason: str | None = None) -> GoalState:
        return await self.decide(goal_id, step_id, "reject", reason=reason)

    async def cancel(self, goal_id: str, *, reason: str | None = None) -> GoalAccepted:
        """Cancel the goal (completed steps are compensated); ApiError ``goal_ended`` (409)
        if it has ended."""
        return await self._send(c.control_call(goal_id, "cancel", reason))

    async def pause(self, goal_id: str, *, reason: str | None = None) -> GoalAccepted:
        return await self._send(c.control_call(goal_id, "pause", reason))

    async def resume(self, goal_id: str, *, reason: str | None = None) -> GoalAccepted:
        return await self._send(c.control_call(goal_id, "resume", reason))

    async def cache_stats(self) -> CacheStats:
        return await self._send(c.cache_stats_call())

    async def usage(self, *, since: datetime | None = None) -> UsageReport:
        return await self._send(c.usage_call(since))
