"""``/v1/goals``: submit, list, read, follow (SSE) and steer goals of the caller's tenant."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from omnihub.api._deps import Goals, Operator, Viewer
from omnihub.api._errors import error_responses
from omnihub.events import GoalState
from omnihub.goals import (
    ControlAction,
    ControlRequest,
    GoalAccepted,
    GoalDecision,
    GoalPage,
    GoalRequest,
    GoalService,
    StreamEvent,
)

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/v1/goals",
    tags=["goals"],
    responses=error_responses(401, 403, 404, 409, 413, 422, 429, 503),
)

# The events' schema (a union discriminated by ``event_type``) is built from the event
# registry when the OpenAPI document is (see ``_openapi.py``); routes refer to it by name.
EVENT_REF = "#/components/schemas/Event"
SSE_DESCRIPTION = """\
Server-Sent Events. The stream opens with `retry: 2000`; each event is one frame:

    id: <stream version>
    event: <event type, e.g. StepCompleted>
    data: <the event as JSON, the same object GET /v1/goals/{goal_id}/events lists>

A line `: keepalive` is sent after quiet periods; after the goal's terminal event
(GoalCompleted, GoalFailed, GoalCancelled) the server closes the stream. If reading the
events fails, a last frame `event: error` with `data: {"message": ...}` is sent. Reconnect
with `Last-Event-ID: <id of the last frame received>` to resume after it.
"""

GoalId = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$", description="Goal id")
]
StepId = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$", description="Step id")
]


@router.post(
    "",
    status_code=202,
    response_model=GoalAccepted,
    summary="Submit a goal",
    operation_id="submitGoal",
)
async def submit_goal(
    body: GoalRequest,
    principal: Operator,
    goals: Goals,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Retries with the same key return the same goal.",
        ),
    ] = None,
) -> GoalAccepted:
    """Start a goal. With an ``Idempotency-Key``, a retried request returns the goal the
    first request started instead of starting another."""
    return await goals.submit(
        principal.tenant_id, body, idempotency_key=idempotency_key, submitter=principal
    )


@router.get("", response_model=GoalPage, summary="List goals", operation_id="listGoals")
async def list_goals(
    principal: Viewer,
    goals: Goals,
    status: Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[a-z_]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
) -> GoalPage:
    """The tenant's goals, newest first, optionally filtered by status."""
    return await goals.list_goals(principal.tenant_id, status=status, limit=limit, cursor=cursor)


@router.get(
    "/{goal_id}", response_model=GoalState, summary="Get a goal's state", operation_id="getGoal"
)
async def get_goal(goal_id: GoalId, principal: Viewer, goals: Goals) -> dict[str, Any]:
    """The goal's state, folded from its events (the GoalState projection)."""
    return await goals.get(principal.tenant_id, goal_id)


@router.get(
    "/{goal_id}/events",
    summary="List a goal's events",
    operation_id="listGoalEvents",
    response_class=JSONResponse,
    responses={
        200: {
            "description": "The events, oldest first.",
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"$ref": EVENT_REF}}}
            },
        }
    },
)
async def list_events(
    goal_id: GoalId,
    principal: Viewer,
    goals: Goals,
    after: Annotated[int, Query(ge=0, description="Only events after this stream version")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> JSONResponse:
    """The goal's events, oldest first."""
    # Sent as the store returned them (already JSON): the schema is documented above.
    events = await goals.events(principal.tenant_id, goal_id, after_version=after, limit=limit)
    return JSONResponse(events)


def _sse(event: StreamEvent) -> bytes:
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.version}\nevent: {event.type}\ndata: {data}\n\n".encode()


async def _event_stream(
    events: AsyncIterator[StreamEvent], keepalive: float
) -> AsyncIterator[bytes]:
    """SSE frames for ``events``, with a comment line every ``keepalive`` seconds of quiet
    (so proxies keep the connection open). The source runs in its own task: a timeout must
    never cancel the source's iterator mid-step."""
    queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue(maxsize=256)
    failure: list[BaseException] = []

    async def pump() -> None:
        try:
            async for event in events:
                await queue.put(event)
        except Exception as exc:
            logger.exception("event stream failed")
            failure.append(exc)
        await queue.put(None)

    task = asyncio.create_task(pump())
    try:
        yield b"retry: 2000\n\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if item is None:
                break
            yield _sse(item)
        if failure:
            yield b'event: error\ndata: {"message":"event stream interrupted"}\n\n'
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@router.get(
    "/{goal_id}/stream",
    summary="Follow a goal's events (Server-Sent Events)",
    operation_id="streamGoalEvents",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": SSE_DESCRIPTION,
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string", "description": "SSE frames (see above)."},
                    "x-sse-data": {"$ref": EVENT_REF},
                }
            },
        }
    },
)
async def stream_events(
    request: Request,
    goal_id: GoalId,
    principal: Viewer,
    goals: Goals,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=32, description="Resume after this event id."),
    ] = None,
    after: Annotated[int | None, Query(ge=0, description="Resume after this version")] = None,
) -> StreamingResponse:
    """The goal's events as SSE: stored ones first, then live ones until the goal ends. Each
    event's ``id`` is its stream version, so a reconnecting client resumes with
    ``Last-Event-ID``."""
    start = after or 0
    if last_event_id:
        try:
            start = max(start, int(last_event_id))
        except ValueError:
            start = max(start, 0)
    # Checks the goal up front, so an unknown goal is a 404, not an empty stream.
    source = await goals.stream(principal.tenant_id, goal_id, after_version=start)
    keepalive: float = request.app.state.sse_keepalive_seconds
    return StreamingResponse(
        _event_stream(source, keepalive),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/{goal_id}/approvals/{step_id}",
    response_model=GoalState,
    summary="Approve or reject a step waiting for approval",
    operation_id="decideStep",
)
async def decide(
    goal_id: GoalId,
    step_id: StepId,
    body: GoalDecision,
    principal: Operator,
    goals: Goals,
) -> dict[str, Any]:
    """Record a decision; answers with the goal's new state once the workflow accepted it."""
    actor = f"key:{principal.key_id}"
    return await goals.decide(
        principal.tenant_id, goal_id, step_id, body, actor, approver=principal
    )


async def _control(
    action: ControlAction,
    goal_id: str,
    body: ControlRequest | None,
    principal: Operator,
    goals: GoalService,
) -> JSONResponse:
    reason = body.reason if body else None
    accepted = await goals.control(
        principal.tenant_id, goal_id, action, actor=f"key:{principal.key_id}", reason=reason
    )
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202)


@router.post(
    "/{goal_id}/cancel",
    status_code=202,
    response_model=GoalAccepted,
    summary="Cancel a goal",
    operation_id="cancelGoal",
)
async def cancel_goal(
    goal_id: GoalId, principal: Operator, goals: Goals, body: ControlRequest | None = None
) -> JSONResponse:
    """Cancel a goal: its completed steps are compensated, last first."""
    return await _control("cancel", goal_id, body, principal, goals)


@router.post(
    "/{goal_id}/pause",
    status_code=202,
    response_model=GoalAccepted,
    summary="Pause a goal",
    operation_id="pauseGoal",
)
async def pause_goal(
    goal_id: GoalId, principal: Operator, goals: Goals, body: ControlRequest | None = None
) -> JSONResponse:
    """Pause a goal before its next step."""
    return await _control("pause", goal_id, body, principal, goals)


@router.post(
    "/{goal_id}/resume",
    status_code=202,
    response_model=GoalAccepted,
    summary="Resume a goal",
    operation_id="resumeGoal",
)
async def resume_goal(
    goal_id: GoalId, principal: Operator, goals: Goals, body: ControlRequest | None = None
) -> JSONResponse:
    """Resume a paused goal."""
    return await _control("resume", goal_id, body, principal, goals)
