"""The console's pages under ``/console``: goals, a goal's live page, approvals, cache and
cost, submitting a goal, signing in and out.

Pages are rendered on the server; htmx refreshes parts of them (the goals table, a goal's live
panel, the approvals list) and a goal's timeline streams over Server-Sent Events. Writes go
through the API's goal service, so the console can do nothing the API would refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from pydantic import ValidationError as PydanticValidationError

from omnihub.api import ApprovalDecision, GoalRequest, GoalService
from omnihub.console._console import STATIC_TYPES, Console
from omnihub.console._session import (
    COOKIE_NAME,
    COOKIE_PATH,
    SESSION_SECONDS,
    ConsoleUser,
    check_csrf,
    check_key,
    current_user,
    safe_next,
    services_of,
)
from omnihub.console._views import (
    cache_report,
    describe,
    goal_detail,
    goal_summaries,
    pending_approvals,
)
from omnihub.errors import AuthenticationError, NotFoundError, OmniHubError
from omnihub.events import EventStore, GoalStatus, new_event_id

User = Annotated[ConsoleUser, Depends(current_user)]
# The statuses a user can filter by: every GoalStatus but "new" (not yet recorded).
GOAL_STATUSES = tuple(status for status in get_args(GoalStatus) if status != "new")
SUBMIT_WAIT_S = 10.0


def goal_service(request: Request) -> GoalService:
    goals = services_of(request).goals
    if goals is None:
        raise HTTPException(503, "goals are not available: no goal service is configured")
    return goals


Goals = Annotated[GoalService, Depends(goal_service)]


def _require_operator(user: ConsoleUser) -> None:
    if not user.can_operate:
        raise HTTPException(403, f"role {user.role.value!r} may only read; this needs 'operator'")


def _check_id(value: str) -> str:
    if not value or len(value) > 128 or not all(c.isalnum() or c in "_.:-" for c in value):
        raise HTTPException(404, "no such goal")
    return value


def create_console_router(console: Console) -> APIRouter:
    """The console's routes (prefix ``/console``), reading through ``console``. The app must
    hold the API's services in ``app.state.services`` (as :func:`omnihub.api.create_app`
    does); :func:`~omnihub.console.mount_console` builds both and closes the console."""
    router = APIRouter(prefix=COOKIE_PATH, include_in_schema=False)

    def page(name: str, code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(console.render(name, **context), status_code=code)

    async def goal_ids(
        goals: GoalService, tenant: str, status: str | None, limit: int
    ) -> list[str]:
        listed = await goals.list_goals(tenant, status=status, limit=limit, cursor=None)
        return [str(item["goal_id"]) for item in listed.items if "goal_id" in item]

    @router.get("", response_class=RedirectResponse)
    @router.get("/", response_class=RedirectResponse)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{COOKIE_PATH}/goals", status_code=303)

    @router.get("/static/{name:path}")
    async def static(name: str) -> FileResponse:
        path = console.static.get(name)
        if path is None:
            raise HTTPException(404, "no such file")
        return FileResponse(
            path,
            media_type=STATIC_TYPES[path.suffix],
            headers={"Cache-Control": "public, max-age=3600"},
        )

    # -- signing in and out ------------------------------------------------------------------

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(next: str | None = None) -> HTMLResponse:
        return page("login.html", next=safe_next(next), error=None, user=None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(
        request: Request,
        api_key: Annotated[str, Form(max_length=512)] = "",
        next: Annotated[str, Form(max_length=2048)] = "",
    ) -> Response:
        try:
            check_key(services_of(request), api_key)
        except AuthenticationError as exc:
            return page("login.html", 401, next=safe_next(next), error=str(exc), user=None)
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            api_key.strip(),
            max_age=SESSION_SECONDS,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    async def logout() -> RedirectResponse:
        response = RedirectResponse(f"{COOKIE_PATH}/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)
        return response

    # -- goals -------------------------------------------------------------------------------

    async def rows(goals: GoalService, user: ConsoleUser, status: str | None) -> list[Any]:
        ids = await goal_ids(goals, user.tenant_id, status, 50)
        return await asyncio.to_thread(goal_summaries, console.store, user.tenant_id, ids)

    def status_filter(status: str | None) -> str | None:
        return status if status in GOAL_STATUSES else None

    @router.get("/goals", response_class=HTMLResponse)
    async def goals_page(user: User, goals: Goals, status: str | None = None) -> HTMLResponse:
        status = status_filter(status)
        found = await rows(goals, user, status)
        return page(
            "goals.html", user=user, rows=found, status=status, statuses=GOAL_STATUSES, nav="goals"
        )

    @router.get("/goals/rows", response_class=HTMLResponse)
    async def goals_rows(user: User, goals: Goals, status: str | None = None) -> HTMLResponse:
        found = await rows(goals, user, status_filter(status))
        return page("_goal_rows.html", user=user, rows=found)

    @router.get("/submit", response_class=HTMLResponse)
    async def submit_form(user: User) -> HTMLResponse:
        return page(
            "submit.html",
            user=user,
            nav="submit",
            error=None,
            form={},
            idempotency_key=uuid.uuid4().hex,
        )

    @router.post("/goals", response_class=HTMLResponse)
    async def submit(
        request: Request,
        user: User,
        goals: Goals,
        goal: Annotated[str, Form(max_length=4000)] = "",
        user_id: Annotated[str, Form(max_length=256)] = "",
        context: Annotated[str, Form(max_length=20000)] = "",
        idempotency_key: Annotated[str, Form(max_length=64)] = "",
        csrf_token: Annotated[str, Form(max_length=128)] = "",
    ) -> Response:
        check_csrf(user, csrf_token)
        _require_operator(user)
        form = {"goal": goal, "user_id": user_id, "context": context}

        def again(error: str) -> HTMLResponse:
            return page(
                "submit.html",
                422,
                user=user,
                nav="submit",
                error=error,
                form=form,
                idempotency_key=idempotency_key or uuid.uuid4().hex,
            )

        try:
            parsed = json.loads(context) if context.strip() else {}
            if not isinstance(parsed, dict):
                return again('context must be a JSON object, like {"city": "Paris"}')
            body = GoalRequest(goal=goal.strip(), context=parsed, user_id=user_id.strip() or None)
        except json.JSONDecodeError as exc:
            return again(f"context is not valid JSON: {exc.msg} (line {exc.lineno})")
        except PydanticValidationError as exc:
            return again(
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            )
        goal_id, new = new_event_id(), True  # a UUIDv7, as the API's: ids sort by time
        if idempotency_key:
            # The form's one-time key: a double click or a resent form opens the same goal.
            digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
            try:
                goal_id, new = await asyncio.to_thread(
                    services_of(request).idempotency.claim,
                    user.tenant_id,
                    f"console:{idempotency_key}",
                    digest,
                    goal_id,
                )
            except OmniHubError as exc:
                return again(str(exc))
        if new:
            try:
                goal_id = (await goals.submit(user.tenant_id, goal_id, body)).goal_id
            except OmniHubError as exc:
                return again(str(exc))
        return RedirectResponse(f"{COOKIE_PATH}/goals/{goal_id}?submitted=1", status_code=303)

    async def detail(user: ConsoleUser, goal_id: str, wait_s: float = 0.0) -> Any:
        """The goal's page data; with ``wait_s``, give a just-submitted goal that long to
        record its first event (the worker records it, not the submit)."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            found = await asyncio.to_thread(goal_detail, console.store, user.tenant_id, goal_id)
            if found is not None:
                return found
            if asyncio.get_running_loop().time() >= deadline:
                raise HTTPException(404, f"no goal {goal_id!r}")
            await asyncio.sleep(0.1)

    @router.get("/goals/{goal_id}", response_class=HTMLResponse)
    async def goal_page(user: User, goal_id: str, submitted: bool = False) -> HTMLResponse:
        found = await detail(user, _check_id(goal_id), SUBMIT_WAIT_S if submitted else 0.0)
        return page("goal.html", user=user, d=found, nav="goals")

    @router.get("/goals/{goal_id}/live", response_class=HTMLResponse)
    async def goal_live(user: User, goal_id: str) -> HTMLResponse:
        found = await detail(user, _check_id(goal_id))
        return page("_goal_live.html", user=user, d=found)

    @router.get("/goals/{goal_id}/stream")
    async def goal_stream(
        request: Request, user: User, goals: Goals, goal_id: str, after: int = 0
    ) -> StreamingResponse:
        goal_id = _check_id(goal_id)
        start = max(0, after)
        last = request.headers.get("Last-Event-ID", "")
        if last.isdigit():
            start = max(start, int(last))
        try:
            await goals.get(user.tenant_id, goal_id)
        except NotFoundError:
            raise HTTPException(404, f"no goal {goal_id!r}") from None
        source = goals.stream(user.tenant_id, goal_id, after_version=start)
        return StreamingResponse(
            timeline_stream(source, console.store, user.tenant_id, goal_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # -- approvals ---------------------------------------------------------------------------

    async def approvals_of(user: ConsoleUser, goals: GoalService) -> list[Any]:
        ids = await goal_ids(goals, user.tenant_id, "awaiting_approval", 200)
        return await asyncio.to_thread(pending_approvals, console.store, user.tenant_id, ids)

    @router.get("/approvals", response_class=HTMLResponse)
    async def approvals_page(user: User, goals: Goals) -> HTMLResponse:
        pending = await approvals_of(user, goals)
        return page("approvals.html", user=user, pending=pending, nav="approvals", error=None)

    @router.get("/approvals/list", response_class=HTMLResponse)
    async def approvals_list(user: User, goals: Goals) -> HTMLResponse:
        pending = await approvals_of(user, goals)
        return page("_approvals_list.html", user=user, pending=pending)

    @router.post("/goals/{goal_id}/approvals/{step_id}", response_class=HTMLResponse)
    async def decide(
        user: User,
        goals: Goals,
        goal_id: str,
        step_id: str,
        decision: Annotated[str, Form()] = "",
        reason: Annotated[str, Form(max_length=2000)] = "",
        csrf_token: Annotated[str, Form(max_length=128)] = "",
    ) -> Response:
        check_csrf(user, csrf_token)
        _require_operator(user)
        goal_id, step_id = _check_id(goal_id), _check_id(step_id)
        try:
            body = ApprovalDecision.model_validate(
                {"decision": decision, "reason": reason.strip() or None}
            )
            await goals.decide(user.tenant_id, goal_id, step_id, body, user.actor)
        except (OmniHubError, PydanticValidationError) as exc:
            message = (
                "choose approve or reject" if isinstance(exc, PydanticValidationError) else str(exc)
            )
            pending = await approvals_of(user, goals)
            return page(
                "approvals.html", 409, user=user, pending=pending, nav="approvals", error=message
            )
        return RedirectResponse(f"{COOKIE_PATH}/approvals?decided={step_id}", status_code=303)

    # -- cache and cost ----------------------------------------------------------------------

    @router.get("/cache", response_class=HTMLResponse)
    async def cache_page(request: Request, user: User) -> HTMLResponse:
        report = await asyncio.to_thread(cache_report, console.store, user.tenant_id)
        services = services_of(request)
        stats = usage = None
        with contextlib.suppress(OmniHubError):
            if services.cache_stats is not None:
                stats = await services.cache_stats.cache_stats(user.tenant_id)
        with contextlib.suppress(OmniHubError):
            if services.usage is not None:
                usage = await services.usage.usage(user.tenant_id, None)
        series = {
            "t": [p[0] for p in report.series],
            "rate": [round(p[1] * 100, 1) for p in report.series],
            "plans": [p[2] for p in report.series],
        }
        return page(
            "cache.html",
            user=user,
            nav="cache",
            report=report,
            series=json.dumps(series),
            stats=stats,
            usage=usage,
        )

    return router


async def timeline_stream(
    source: AsyncIterator[Any],
    store: EventStore,
    tenant_id: str,
    goal_id: str,
    keepalive_s: float = 15.0,
) -> AsyncIterator[bytes]:
    """SSE frames of timeline entries for the goal's events from ``source`` (the API's goal
    stream), each with its time and a one-line description, then an ``end`` frame."""
    yield b"retry: 3000\n\n"
    iterator = aiter(source)
    pending: asyncio.Task[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=keepalive_s)
            if not done:
                yield b": keepalive\n\n"
                continue
            task, pending = pending, None
            try:
                event = task.result()
            except StopAsyncIteration:
                break
            version = int(event.version)
            stored = await asyncio.to_thread(store.read_stream, tenant_id, goal_id, version)
            at = stored[0].occurred_at.isoformat() if stored else None
            entry = {
                "version": version,
                "type": event.type,
                "at": at,
                "text": describe(stored[0]) if stored else "",
            }
            yield f"id: {version}\nevent: goal\ndata: {json.dumps(entry)}\n\n".encode()
        yield b"event: end\ndata: {}\n\n"
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
