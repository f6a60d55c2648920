"""Two ``omnihub serve`` processes sharing one PostgreSQL (events, keys, idempotency records,
console sessions) and one Redis (nonces, rate limits, the failed-sign-in throttle), with one
Temporal server and one worker: the API processes hold no state of their own, so either
answers the same as the other."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from scaleout_support import Processes, run_omnihub, until, wait_api_ready, with_home

from omnihub.console import COOKIE_NAME
from omnihub.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _console_login(base: str, key: str) -> httpx.Response:
    """Sign in to the console at ``base`` as a browser does (form page, then post)."""
    with httpx.Client(base_url=base, timeout=10) as browser:
        form = browser.get("/console/login")
        found = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert found, form.text
        data = {"api_key": key, "next": "", "login_token": found.group(1)}
        return browser.post("/console/login", data=data)


def _console(base: str, session: str, path: str = "/console/goals") -> httpx.Response:
    return httpx.get(f"{base}{path}", cookies={COOKIE_NAME: session}, timeout=10)


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_two_api_processes_share_keys_idempotency_and_goals(
    tmp_path: Path, shared_env: dict[str, str], processes: Processes
) -> None:
    cli_env = with_home(shared_env, tmp_path / "home-cli")
    created = run_omnihub(
        cli_env, "keys", "create", "--tenant", "acme", "--role", "operator", "--json"
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    auth = {"Authorization": f"Bearer {key['key']}"}

    homes = [tmp_path / "home-a", tmp_path / "home-b"]
    ports = [free_port(), free_port()]
    servers = [
        processes.start(f"api-{n}", with_home(shared_env, home), "serve", "--port", str(port))
        for n, (home, port) in enumerate(zip(homes, ports, strict=True))
    ]
    processes.start("worker", with_home(shared_env, tmp_path / "home-worker"), "worker")
    bases = [wait_api_ready(server, port) for server, port in zip(servers, ports, strict=True)]

    # A key created against the shared database works on both processes.
    for base in bases:
        listed = httpx.get(f"{base}/v1/goals", headers=auth, timeout=10)
        assert listed.status_code == 200, listed.text
        assert listed.json()["items"] == []

    # One Idempotency-Key sent to both processes at once starts one goal.
    body = {"goal": "Compose a sonnet about the sea"}
    headers = {**auth, "Idempotency-Key": "order-42"}

    def submit(base: str) -> httpx.Response:
        return httpx.post(f"{base}/v1/goals", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(submit, bases * 2))
    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    goal_ids = {a.json()["goal_id"] for a in answers}
    assert len(goal_ids) == 1
    (goal_id,) = goal_ids

    # Both processes list the same goals (one), and agree on its state once the worker ends it.
    def goal_lists() -> list[list[str]]:
        return [
            [g["goal_id"] for g in httpx.get(f"{b}/v1/goals", headers=auth).json()["items"]]
            for b in bases
        ]

    assert until(lambda: goal_lists() == [[goal_id], [goal_id]]), goal_lists()

    def states() -> list[str]:
        return [httpx.get(f"{b}/v1/goals/{goal_id}", headers=auth).json()["status"] for b in bases]

    final = until(lambda: (s := states())[0] in {"completed", "failed"} and len(set(s)) == 1)
    assert final, states()
    assert goal_lists() == [[goal_id], [goal_id]]

    # A console sign-in at A is valid at B; signing out at B ends it at A.
    api_a, api_b = bases
    signed_in = _console_login(api_a, key["key"])
    assert signed_in.status_code == 303, signed_in.text
    session = signed_in.cookies[COOKIE_NAME]
    page = _console(api_b, session)
    assert page.status_code == 200, page.text
    out = httpx.post(
        f"{api_b}/console/logout",
        data={"csrf_token": _csrf(page)},
        cookies={COOKIE_NAME: session},
        timeout=10,
    )
    assert out.status_code == 303
    assert _console(api_a, session).status_code == 303  # back to the login page
    assert _console(api_b, session).status_code == 303

    # An admin revoking a key at B ends that key's console session at A at once (not after
    # the 30 s key re-check).
    created = run_omnihub(
        cli_env, "keys", "create", "--tenant", "acme", "--role", "admin", "--json"
    )
    assert created.returncode == 0, created.stderr
    admin = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    viewer = httpx.post(f"{api_a}/v1/admin/keys", json={"role": "viewer"}, headers=admin)
    assert viewer.status_code == 201, viewer.text
    viewer_session = _console_login(api_a, viewer.json()["key"]).cookies[COOKIE_NAME]
    assert _console(api_a, viewer_session).status_code == 200
    gone = httpx.delete(f"{api_b}/v1/admin/keys/{viewer.json()['key_id']}", headers=admin)
    assert gone.status_code == 204, gone.text
    assert _console(api_a, viewer_session).status_code == 303

    # Failed authentications at A lock the address out at B too (5 free, then 1 s).
    wrong = {"Authorization": "Bearer omk_0123456789abcdef_" + "x" * 43}
    codes = [httpx.get(f"{api_a}/v1/goals", headers=wrong).status_code for _ in range(6)]
    assert codes == [401] * 6
    locked = httpx.get(f"{api_b}/v1/goals", headers=auth, timeout=10)
    assert locked.status_code == 429, locked.text
    assert "too many failed sign-ins" in locked.json()["error"]["message"]
    assert _console_login(api_b, key["key"]).status_code == 429
    # The lockout ends, and a success at B clears the address at A as well.
    assert until(
        lambda: httpx.get(f"{api_b}/v1/goals", headers=auth).status_code == 200, timeout=10
    )
    assert httpx.get(f"{api_a}/v1/goals", headers=wrong).status_code == 401
    # Not cleared, that 7th failure in a row would have locked the address out for 2 s.
    assert httpx.get(f"{api_a}/v1/goals", headers=auth).status_code == 200

    # A revocation through the shared database takes effect on both processes at once.
    revoked = run_omnihub(cli_env, "keys", "revoke", key["key"].split("_")[1])
    assert revoked.returncode == 0, revoked.stderr
    for base in bases:
        assert httpx.get(f"{base}/v1/goals", headers=auth, timeout=10).status_code == 401

    # Nothing was written to the API processes' own homes: all state is shared.
    for home in homes:
        assert [p for p in home.rglob("*") if p.is_file()] == []
