"""The console's routes over HTTP against the real stack: sign-in, roles, CSRF, tenants,
submitting and deciding, the SSE timeline, static files."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from consolekit import Stack, running_stack

from omnihub.auth import Role
from omnihub.console import COOKIE_NAME
from omnihub.console._routes import timeline_stream
from omnihub.events import GoalReceived, NewEvent, open_event_store
from omnihub.goals import StreamEvent
from omnihub.servers import EmbeddedTemporal


@contextlib.asynccontextmanager
async def signed_in(stack: Stack, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a console session of ``key`` (as the login form would open it)."""
    token = await stack.services.sessions.open(stack.services.keys.authenticate(key))
    async with httpx.AsyncClient(base_url=stack.base_url, cookies={COOKIE_NAME: token}) as client:
        yield client


async def login(
    client: httpx.AsyncClient, key: str, next: str = "", token: str | None = None
) -> httpx.Response:
    """Post the login form as a browser would: with the login token the form page set."""
    form = await client.get("/console/login")
    found = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert found, form.text
    data = {"api_key": key, "next": next, "login_token": token or found.group(1)}
    return await client.post("/console/login", data=data)


async def csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/console/submit")
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def submit(client: httpx.AsyncClient, goal: str, **extra: str) -> httpx.Response:
    data = {"goal": goal, "csrf_token": await csrf(client), **extra}
    return await client.post("/console/goals", data=data)


async def test_pages_redirect_to_login_and_login_sets_an_httponly_cookie(stack: Stack) -> None:
    page = await stack.client.get("/console/approvals?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Fapprovals%3Fx%3D1"
    partial = await stack.client.get("/console/goals/rows", headers={"HX-Request": "true"})
    assert partial.status_code == 401
    assert partial.headers["HX-Redirect"].startswith("/console/login")
    form = await stack.client.get("/console/login?next=https://evil.example/")
    assert 'value="/console/goals"' in form.text
    assert 'for="api_key"' in form.text

    bad = await login(stack.client, "omk_nope")
    assert bad.status_code == 401
    assert "malformed API key" in bad.text

    key = stack.key()
    ok = await login(stack.client, key, next="/console/approvals")
    assert ok.status_code == 303
    assert ok.headers["location"] == "/console/approvals"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert key not in cookie  # a session token, never the key
    token = await csrf(stack.client)
    out = await stack.client.post("/console/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert 'omnihub_console=""' in out.headers["set-cookie"]
    assert (await stack.client.get("/console")).headers["location"] == "/console/goals"


async def test_keys_that_must_sign_and_revoked_keys_cannot_sign_in(stack: Stack) -> None:
    signing = stack.services.keys.create("acme", Role.OPERATOR, require_signature=True).key
    refused = await login(stack.client, signing)
    assert refused.status_code == 401
    assert "must sign its requests" in refused.text
    created = stack.services.keys.create("acme", Role.VIEWER)
    stack.services.sessions.recheck = 0.0
    async with signed_in(stack, created.key) as client:
        assert (await client.get("/console/goals")).status_code == 200
        stack.services.keys.revoke(created.key_id)  # by another process, like the CLI
        assert (await client.get("/console/goals")).status_code == 303
    refused_again = await login(stack.client, created.key)
    assert refused_again.status_code == 401


async def test_submit_runs_the_goal_and_another_tenant_cannot_see_it(stack: Stack) -> None:
    async with (
        signed_in(stack, stack.key("acme")) as acme,
        signed_in(stack, stack.key("globex")) as globex,
    ):
        sent = await submit(
            acme, "reserve a table", context='{"city": "Paris"}', idempotency_key="once"
        )
        assert sent.status_code == 303
        goal_id = sent.headers["location"].rsplit("/", 1)[1].split("?")[0]
        again = await submit(
            acme, "reserve a table", context='{"city": "Paris"}', idempotency_key="once"
        )
        assert again.headers["location"] == sent.headers["location"]
        assert sent.headers["location"].endswith("?submitted=1")
        await stack.wait_for(lambda: stack.state("acme", goal_id).status == "completed")

        rows = await acme.get("/console/goals/rows")
        assert goal_id in rows.text
        assert "reserve a table" in rows.text
        done = await acme.get("/console/goals?status=completed")
        assert goal_id in done.text
        assert 'value="completed" selected' in done.text
        assert goal_id not in (await acme.get("/console/goals/rows?status=failed")).text
        page = await acme.get(f"/console/goals/{goal_id}")
        assert "hash chain intact" in page.text
        assert 'data-step="answer"' in page.text
        assert (await acme.get(f"/console/goals/{goal_id}/live")).status_code == 200

        assert goal_id not in (await globex.get("/console/goals")).text
        assert (await globex.get(f"/console/goals/{goal_id}")).status_code == 404
        assert (await globex.get(f"/console/goals/{goal_id}/stream")).status_code == 404
        assert (await globex.get("/console/goals/bad%20id")).status_code == 404


async def test_submit_shows_validation_errors_and_needs_csrf_and_operator(stack: Stack) -> None:
    async with signed_in(stack, stack.key()) as client:
        bad_json = await submit(client, "x", context="{nope")
        assert bad_json.status_code == 422
        assert "context is not valid JSON" in bad_json.text
        not_object = await submit(client, "x", context="[1]")
        assert "must be a JSON object" in not_object.text
        empty = await submit(client, "   ")
        assert empty.status_code == 422
        assert "goal" in empty.text
        forged = await client.post("/console/goals", data={"goal": "x", "csrf_token": "0" * 64})
        assert forged.status_code == 403
        # Deep, non-finite or oversized contexts are refused with the form, never a 500.
        deep = '{"a": ' + "[" * 5000 + "]" * 5000 + "}"
        too_deep = await submit(client, "x", context=deep)
        assert too_deep.status_code == 422
        assert "nests too deep" in too_deep.text
        nested = '{"a": ' + "[" * 100 + "]" * 100 + "}"
        assert "nests deeper than the limit" in (await submit(client, "x", context=nested)).text
        nan = await submit(client, "x", context='{"n": NaN}')
        assert nan.status_code == 422
        assert "NaN is not a JSON number" in nan.text
    async with signed_in(stack, stack.key(role=Role.VIEWER)) as viewer:
        page = await viewer.get("/console/goals")
        assert "Submit a goal" not in page.text
        refused = await submit(viewer, "x")
        assert refused.status_code == 403
        assert "may only read" in refused.text


async def test_approval_from_the_inbox_finishes_the_goal_and_viewers_only_read(
    stack: Stack,
) -> None:
    async with (
        signed_in(stack, stack.key()) as submitter,
        signed_in(stack, stack.key()) as operator,
        signed_in(stack, stack.key(role=Role.VIEWER)) as viewer,
    ):
        sent = await submit(submitter, "buy and approve the payment")
        goal_id = sent.headers["location"].rsplit("/", 1)[1].split("?")[0]
        await stack.wait_for(lambda: stack.state("acme", goal_id).status == "awaiting_approval")

        seen = await viewer.get("/console/approvals")
        assert "guarded_write" in seen.text
        assert "red lane" in seen.text
        assert "Approve</button>" not in seen.text
        assert "can read this inbox" in seen.text
        token = await csrf(viewer)
        refused = await viewer.post(
            f"/console/goals/{goal_id}/approvals/pay",
            data={"decision": "approve", "csrf_token": token},
        )
        assert refused.status_code == 403
        # The operator who submitted the goal may not approve it (no-self-approval).
        own = await submitter.post(
            f"/console/goals/{goal_id}/approvals/pay",
            data={"decision": "approve", "csrf_token": await csrf(submitter)},
        )
        assert "no-self-approval" in own.text
        assert stack.state("acme", goal_id).status == "awaiting_approval"

        inbox = await operator.get("/console/approvals/list")
        assert "Approve</button>" in inbox.text
        assert goal_id in inbox.text
        token = await csrf(operator)
        wrong = await operator.post(
            f"/console/goals/{goal_id}/approvals/check",
            data={"decision": "approve", "csrf_token": token},
        )
        assert wrong.status_code == 409
        assert 'role="alert"' in wrong.text
        nonsense = await operator.post(
            f"/console/goals/{goal_id}/approvals/pay",
            data={"decision": "maybe", "csrf_token": token},
        )
        assert "choose approve or reject" in nonsense.text
        ok = await operator.post(
            f"/console/goals/{goal_id}/approvals/pay",
            data={"decision": "approve", "reason": "fine", "csrf_token": token},
        )
        assert ok.status_code == 303
        await stack.wait_for(lambda: stack.state("acme", goal_id).status == "completed")
        assert stack.state("acme", goal_id).step("pay").approval_decided_by.startswith("key:")
        assert "Nothing waits for approval" in (await operator.get("/console/approvals")).text


async def test_stream_sends_timeline_entries_then_end_and_resumes(stack: Stack) -> None:
    async with signed_in(stack, stack.key()) as client:
        sent = await submit(client, "check stock")
        goal_id = sent.headers["location"].rsplit("/", 1)[1].split("?")[0]
        await stack.wait_for(lambda: stack.state("acme", goal_id).status == "completed")
        total = stack.state("acme", goal_id).version
        body = (await client.get(f"/console/goals/{goal_id}/stream")).text
        assert body.count("event: goal\n") == total
        assert body.endswith("event: end\ndata: {}\n\n")
        assert '"type": "GoalCompleted"' in body
        assert '"text": "check stock"' in body
        resumed = await client.get(
            f"/console/goals/{goal_id}/stream", headers={"Last-Event-ID": str(total - 1)}
        )
        assert resumed.text.count("event: goal\n") == 1


async def test_cache_page_and_static_files(stack: Stack) -> None:
    async with signed_in(stack, stack.key()) as client:
        sent = await submit(client, "check stock")
        goal_id = sent.headers["location"].rsplit("/", 1)[1].split("?")[0]
        await stack.wait_for(lambda: stack.state("acme", goal_id).status == "completed")
        page = await client.get("/console/cache")
        assert page.status_code == 200
        assert 'id="hit-chart"' in page.text
        assert "plans (0 from the cache)" in page.text
    for name, kind in [
        ("vendor/htmx.min.js", "javascript"),
        ("console.css", "css"),
        ("vendor/uPlot.iife.min.js", "javascript"),
    ]:
        asset = await stack.client.get(f"/console/static/{name}")
        assert asset.status_code == 200
        assert kind in asset.headers["content-type"]
    assert (await stack.client.get("/console/static/../_routes.py")).status_code == 404
    assert (await stack.client.get("/console/static/vendor/htmx.LICENSE")).status_code == 404


@pytest.mark.parametrize("path", ["/console/goals", "/console/approvals", "/console/cache"])
async def test_without_a_goal_service_pages_answer_503(stack: Stack, path: str) -> None:
    stack.services.goals = None
    async with signed_in(stack, stack.key()) as client:
        page = await client.get(path)
    assert page.status_code == (200 if path == "/console/cache" else 503)


async def test_console_errors_are_pages_and_api_errors_stay_json(stack: Stack) -> None:
    async with signed_in(stack, stack.key()) as client:
        missing = await client.get("/console/goals/unknown-goal")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "no goal &#39;unknown-goal&#39;" in missing.text
        api = await client.get("/v1/goals/unknown-goal", headers={"Authorization": "Bearer x"})
        assert api.status_code == 401
        assert api.json()["error"]["code"] == "unauthenticated"
        hx = await client.get("/console/goals/unknown-goal/live", headers={"HX-Request": "1"})
        assert hx.headers["content-type"] == "application/json"


async def test_rate_limited_pages_answer_429_with_retry_after(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    async with (
        running_stack(
            temporal_server,
            tmp_path,
            with_worker=False,
            api_rate_limit_burst=2,
            api_rate_limit_key_share=1.0,
            api_rate_limit_per_second=0.01,
        ) as stack,
        signed_in(stack, stack.key()) as client,
    ):
        codes = [(await client.get("/console/cache")).status_code for _ in range(3)]
        limited = await client.get("/console/cache")
    assert codes == [200, 200, 429]
    assert limited.headers["content-type"].startswith("text/html")
    assert int(limited.headers["retry-after"]) >= 1
    assert "Too Many Requests" in limited.text


async def test_timeline_stream_sends_keepalives_while_the_goal_is_quiet(tmp_path: Path) -> None:
    with open_event_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        store.append("acme", "g", [NewEvent(payload=GoalReceived(goal="wait", user_id="u"))])

        async def slow() -> AsyncIterator[StreamEvent]:
            await asyncio.sleep(0.35)
            yield StreamEvent(1, "GoalReceived", {})

        frames = [f async for f in timeline_stream(slow(), store, "acme", "g", keepalive_s=0.1)]
    assert frames[0] == b"retry: 3000\n\n"
    assert frames.count(b": keepalive\n\n") >= 2
    assert b'"text": "wait"' in frames[-2]
    assert frames[-1] == b"event: end\ndata: {}\n\n"


async def test_login_needs_the_forms_token_and_logout_ends_the_session_on_the_server(
    stack: Stack,
) -> None:
    key = stack.key()
    # Login CSRF: a post from another site carries no token matching the form's cookie.
    forged = await stack.client.post("/console/login", data={"api_key": key})
    assert forged.status_code == 403
    assert "omnihub_console=" not in forged.headers.get("set-cookie", "").split(";")[0]
    wrong = await login(stack.client, key, token="guessed")
    assert wrong.status_code == 403
    ok = await login(stack.client, key)
    assert ok.status_code == 303
    session = stack.client.cookies.get(COOKIE_NAME)
    assert session
    assert session != key
    # Logout CSRF: without the session's token nothing happens.
    assert (await stack.client.post("/console/logout")).status_code == 403
    assert (await stack.client.get("/console/goals")).status_code == 200
    out = await stack.client.post("/console/logout", data={"csrf_token": await csrf(stack.client)})
    assert out.status_code == 303
    # The old cookie is worthless afterwards: the session ended on the server.
    async with httpx.AsyncClient(base_url=stack.base_url, cookies={COOKIE_NAME: session}) as replay:
        assert (await replay.get("/console/goals")).status_code == 303


async def test_failed_logins_from_one_address_back_off(stack: Stack) -> None:
    free = stack.settings.api_auth_free_failures
    for _ in range(free + 1):
        assert (await login(stack.client, "omk_wrong")).status_code == 401
    # Locked out now, even with a good key, until the backoff passes.
    throttled = await login(stack.client, stack.key())
    assert throttled.status_code == 429
    assert "too many failed sign-ins" in throttled.text
    assert int(throttled.headers["retry-after"]) >= 1


async def test_console_pages_carry_security_headers_and_a_strict_csp(stack: Stack) -> None:
    page = await stack.client.get("/console/login")
    headers = page.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in page.text
    async with signed_in(stack, stack.key()) as client:
        goals = await client.get("/console/goals")
    assert "onchange=" not in goals.text
    assert goals.headers["content-security-policy"] == csp
