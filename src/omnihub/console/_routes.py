"""The console's pages under ``/console``: goals, a goal's live page, approvals, cache and
cost, submitting a goal, signing in and out.

Pages are rendered on the server; htmx refreshes parts of them (the goals table, a goal's live
panel, the approvals list) and a goal's timeline streams over Server-Sent Events. Writes go
through the same goal service as the API's, so the console can do nothing the API would refuse.
Each page is a handler function of its own, registered on the router below.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
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

from omnihub.auth import AuthThrottledError
from omnihub.console._console import STATIC_TYPES, Console
from omnihub.console._session import (
    COOKIE_NAME,
    COOKIE_PATH,
    LOGIN_COOKIE_NAME,
    ConsoleUser,
    check_csrf,
    check_key,
    csrf_token_for,
    current_user,
    safe_next,
    services_of,
    sessions_of,
)
from omnihub.console._views import (
    cache_report,
    describe,
    goal_detail,
    goal_summaries,
    pending_approvals,
)
from omnihub.errors import AuthenticationError, NotFoundError, OmniHubError
from omnihub.events import EventStore, GoalStatus
from omnihub.goals import (
    GoalDecision,
    GoalRequest,
    GoalService,
    PlanReports,
    WrongPlanReport,
    new_goal_id,
)
from omnihub.runtime import goals_of

User = Annotated[ConsoleUser, Depends(current_user)]
# The statuses a user can filter by: every GoalStatus but "new" (not yet recorded).
GOAL_STATUSES = tuple(status for status in get_args(GoalStatus) if status != "new")
SUBMIT_WAIT_S = 10.0


def goal_service(request: Request) -> GoalService:
    try:
        return goals_of(services_of(request))
    except OmniHubError as exc:
        raise HTTPException(503, str(exc)) from None


def console_of(request: Request) -> Console:
    console: Console = request.state.console
    return console


Goals = Annotated[GoalService, Depends(goal_service)]
Shared = Annotated[Console, Depends(console_of)]


def _require_operator(user: ConsoleUser) -> None:
    if not user.can_operate:
        raise HTTPException(403, f"role {user.role.value!r} may only read; this needs 'operator'")


def _check_id(value: str) -> str:
    if not value or len(value) > 128 or not all(c.isalnum() or c in "_.:-" for c in value):
        raise HTTPException(404, "no such goal")
    return value


def _page(console: Console, name: str, code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(console.render(name, **context), status_code=code)


async def _goal_ids(goals: GoalService, tenant: str, status: str | None, limit: int) -> list[str]:
    listed = await goals.list_goals(tenant, status=status, limit=limit)
    return [item.goal_id for item in listed.items]


def _status_filter(status: str | None) -> str | None:
    return status if status in GOAL_STATUSES else None


async def _rows(
    console: Console, goals: GoalService, user: ConsoleUser, status: str | None
) -> list[Any]:
    ids = await _goal_ids(goals, user.tenant_id, status, 50)
    return await asyncio.to_thread(goal_summaries, console.store, user.tenant_id, ids)


async def _detail(console: Console, user: ConsoleUser, goal_id: str, wait_s: float = 0.0) -> Any:
    """The goal's page data; with ``wait_s``, give a just-submitted goal that long to record
    its first event (the worker records it, not the submit)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        found = await asyncio.to_thread(goal_detail, console.store, user.tenant_id, goal_id)
        if found is not None:
            return found
        if asyncio.get_running_loop().time() >= deadline:
            raise HTTPException(404, f"no goal {goal_id!r}")
        await asyncio.sleep(0.1)


async def _approvals(console: Console, user: ConsoleUser, goals: GoalService) -> list[Any]:
    ids = await _goal_ids(goals, user.tenant_id, "awaiting_approval", 200)
    return await asyncio.to_thread(pending_approvals, console.store, user.tenant_id, ids)


# -- pages ---------------------------------------------------------------------------------


async def home() -> RedirectResponse:
    return RedirectResponse(f"{COOKIE_PATH}/goals", status_code=303)


async def static(console: Shared, name: str) -> FileResponse:
    path = console.static.get(name)
    if path is None:
        raise HTTPException(404, "no such file")
    return FileResponse(
        path,
        media_type=STATIC_TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=3600"},
    )


def _cookie(response: Response, request: Request, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _login_page(
    console: Console, request: Request, next: str | None, error: str | None, code: int = 200
) -> HTMLResponse:
    """The login form with a fresh login token, also set as a cookie: the form's post must
    carry both (a page on another site can set neither), so no one can sign a browser in to
    an account of theirs (login CSRF)."""
    token = secrets.token_urlsafe(32)
    page = _page(
        console,
        "login.html",
        code,
        next=safe_next(next),
        error=error,
        user=None,
        login_token=token,
    )
    _cookie(page, request, LOGIN_COOKIE_NAME, token, 3600)
    return page


async def login_form(request: Request, console: Shared, next: str | None = None) -> HTMLResponse:
    return _login_page(console, request, next, None)


async def login(
    request: Request,
    console: Shared,
    api_key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
    login_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE_NAME, "")
    if not expected or not hmac.compare_digest(expected, login_token):
        return _login_page(
            console, request, next, "the sign-in form has expired; please try again", 403
        )
    services = services_of(request)
    throttle = services.throttle
    address = request.client.host if request.client else "-"
    try:
        await throttle.check(address)
        principal = check_key(services, api_key)
    except AuthThrottledError as exc:
        page = _login_page(console, request, next, str(exc), 429)
        page.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return page
    except AuthenticationError as exc:
        await throttle.failed(address)
        return _login_page(console, request, next, str(exc), 401)
    await throttle.succeeded(address)
    response = RedirectResponse(safe_next(next), status_code=303)
    token = await services.sessions.open(principal)
    _cookie(response, request, COOKIE_NAME, token, int(services.sessions.lifetime))
    response.delete_cookie(LOGIN_COOKIE_NAME, path=COOKIE_PATH)
    return response


async def logout(
    request: Request, csrf_token: Annotated[str, Form(max_length=128)] = ""
) -> RedirectResponse:
    """End the session on the server (the cookie alone is worthless afterwards); needs the
    session's CSRF token, so another site cannot sign the user out."""
    sessions = sessions_of(request)
    token = request.cookies.get(COOKIE_NAME)
    session = await sessions.get(token) if token else None
    if session is not None and token is not None:
        if not hmac.compare_digest(csrf_token_for(token), csrf_token):
            raise HTTPException(403, "the form has expired; reload the page and try again")
        await sessions.close(token)
    response = RedirectResponse(f"{COOKIE_PATH}/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)
    return response


async def goals_page(
    console: Shared, user: User, goals: Goals, status: str | None = None
) -> HTMLResponse:
    status = _status_filter(status)
    found = await _rows(console, goals, user, status)
    return _page(
        console,
        "goals.html",
        user=user,
        rows=found,
        status=status,
        statuses=GOAL_STATUSES,
        nav="goals",
    )


async def goals_rows(
    console: Shared, user: User, goals: Goals, status: str | None = None
) -> HTMLResponse:
    found = await _rows(console, goals, user, _status_filter(status))
    return _page(console, "_goal_rows.html", user=user, rows=found)


async def submit_form(console: Shared, user: User) -> HTMLResponse:
    return _page(
        console,
        "submit.html",
        user=user,
        nav="submit",
        error=None,
        form={},
        idempotency_key=new_goal_id(),
    )


async def submit(
    console: Shared,
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
        return _page(
            console,
            "submit.html",
            422,
            user=user,
            nav="submit",
            error=error,
            form=form,
            idempotency_key=idempotency_key or new_goal_id(),
        )

    try:
        parsed = json.loads(context, parse_constant=_no_constant) if context.strip() else {}
        if not isinstance(parsed, dict):
            return again('context must be a JSON object, like {"city": "Paris"}')
        body = GoalRequest(goal=goal.strip(), context=parsed, user_id=user_id.strip() or None)
    except json.JSONDecodeError as exc:
        return again(f"context is not valid JSON: {exc.msg} (line {exc.lineno})")
    except ValueError as exc:  # NaN or Infinity, which JSON cannot carry
        return again(f"context is not valid JSON: {exc}")
    except RecursionError:
        return again("context nests too deep")
    except PydanticValidationError as exc:
        return again("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    # The form's one-time key: a double click or a resent form opens the same goal.
    key = f"console:{idempotency_key}" if idempotency_key else None
    try:
        accepted = await goals.submit(
            user.tenant_id, body, idempotency_key=key, submitter=user.principal
        )
    except OmniHubError as exc:
        return again(str(exc))
    return RedirectResponse(f"{COOKIE_PATH}/goals/{accepted.goal_id}?submitted=1", status_code=303)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# What the goal page says after a wrong-plan report (fixed texts: nothing from the request).
_REPORTED = {
    "1": "Reported: the cached plan was evicted and counted as a false hit.",
    "gone": "That plan is no longer in the plan cache (already reported or evicted).",
}


async def goal_page(
    console: Shared, user: User, goal_id: str, submitted: bool = False, reported: str = ""
) -> HTMLResponse:
    found = await _detail(console, user, _check_id(goal_id), SUBMIT_WAIT_S if submitted else 0.0)
    notice = _REPORTED.get(reported)
    return _page(console, "goal.html", user=user, d=found, nav="goals", reported=notice)


async def report_wrong_plan(
    console: Shared,
    user: User,
    goal_id: str,
    reason: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """The goal page's "report wrong plan" button: the same use case as the API's
    ``POST /v1/cache/reports``, for the entry that planned this goal."""
    check_csrf(user, csrf_token)
    _require_operator(user)
    goal_id = _check_id(goal_id)
    found = await _detail(console, user, goal_id)
    if found.cache_entry_id is None:
        raise HTTPException(409, "this goal's plan did not come from the plan cache")
    body = WrongPlanReport(
        entry_id=found.cache_entry_id,
        reason=reason.strip() or "reported in the console",
        goal_id=goal_id,
    )
    outcome = "1"
    try:
        await PlanReports(console.store, console.settings).report(user.tenant_id, body, user.actor)
    except NotFoundError:
        outcome = "gone"
    return RedirectResponse(f"{COOKIE_PATH}/goals/{goal_id}?reported={outcome}", status_code=303)


async def goal_live(console: Shared, user: User, goal_id: str) -> HTMLResponse:
    found = await _detail(console, user, _check_id(goal_id))
    return _page(console, "_goal_live.html", user=user, d=found)


async def goal_stream(
    request: Request, console: Shared, user: User, goals: Goals, goal_id: str, after: int = 0
) -> StreamingResponse:
    goal_id = _check_id(goal_id)
    start = max(0, after)
    last = request.headers.get("Last-Event-ID", "")
    if last.isdigit():
        start = max(start, int(last))
    try:
        source = await goals.stream(user.tenant_id, goal_id, after_version=start)
    except NotFoundError:
        raise HTTPException(404, f"no goal {goal_id!r}") from None
    return StreamingResponse(
        timeline_stream(source, console.store, user.tenant_id, goal_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def approvals_page(console: Shared, user: User, goals: Goals) -> HTMLResponse:
    pending = await _approvals(console, user, goals)
    return _page(console, "approvals.html", user=user, pending=pending, nav="approvals", error=None)


async def approvals_list(console: Shared, user: User, goals: Goals) -> HTMLResponse:
    pending = await _approvals(console, user, goals)
    return _page(console, "_approvals_list.html", user=user, pending=pending)


async def decide(
    console: Shared,
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
        body = GoalDecision.model_validate({"decision": decision, "reason": reason.strip() or None})
        await goals.decide(
            user.tenant_id, goal_id, step_id, body, user.actor, approver=user.principal
        )
    except (OmniHubError, PydanticValidationError) as exc:
        message = (
            "choose approve or reject" if isinstance(exc, PydanticValidationError) else str(exc)
        )
        pending = await _approvals(console, user, goals)
        return _page(
            console,
            "approvals.html",
            409,
            user=user,
            pending=pending,
            nav="approvals",
            error=message,
        )
    return RedirectResponse(f"{COOKIE_PATH}/approvals?decided={step_id}", status_code=303)


async def cache_page(request: Request, console: Shared, user: User) -> HTMLResponse:
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
    return _page(
        console,
        "cache.html",
        user=user,
        nav="cache",
        report=report,
        series=json.dumps(series),
        stats=stats,
        usage=usage,
    )


# (method, path, handler): the whole console, one line per page.
_PAGES: list[tuple[str, str, Any]] = [
    ("GET", "", home),
    ("GET", "/", home),
    ("GET", "/static/{name:path}", static),
    ("GET", "/login", login_form),
    ("POST", "/login", login),
    ("POST", "/logout", logout),
    ("GET", "/goals", goals_page),
    ("GET", "/goals/rows", goals_rows),
    ("GET", "/submit", submit_form),
    ("POST", "/goals", submit),
    ("GET", "/goals/{goal_id}", goal_page),
    ("GET", "/goals/{goal_id}/live", goal_live),
    ("GET", "/goals/{goal_id}/stream", goal_stream),
    ("POST", "/goals/{goal_id}/report-wrong-plan", report_wrong_plan),
    ("GET", "/approvals", approvals_page),
    ("GET", "/approvals/list", approvals_list),
    ("POST", "/goals/{goal_id}/approvals/{step_id}", decide),
    ("GET", "/cache", cache_page),
]


def create_console_router(console: Console) -> APIRouter:
    """The console's routes (prefix ``/console``), reading through ``console``. The app must
    hold the runtime's services in ``app.state.services`` (as :func:`omnihub.api.create_app`
    does); :func:`~omnihub.console.mount_console` builds both and closes the console."""

    async def bind(request: Request) -> None:
        request.state.console = console

    router = APIRouter(prefix=COOKIE_PATH, include_in_schema=False, dependencies=[Depends(bind)])
    for method, path, handler in _PAGES:
        router.add_api_route(path, handler, methods=[method], response_model=None)
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
