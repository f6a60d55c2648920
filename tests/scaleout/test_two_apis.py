"""Two ``omnihub serve`` processes sharing one PostgreSQL (events, keys, idempotency records)
and one Redis (nonces, rate limits), with one Temporal server and one worker: the API
processes hold no state of their own, so either answers the same as the other."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from scaleout_support import Processes, run_omnihub, until, wait_api_ready, with_home

from omnihub.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


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

    # A revocation through the shared database takes effect on both processes at once.
    revoked = run_omnihub(cli_env, "keys", "revoke", key["key"].split("_")[1])
    assert revoked.returncode == 0, revoked.stderr
    for base in bases:
        assert httpx.get(f"{base}/v1/goals", headers=auth, timeout=10).status_code == 401

    # Nothing was written to the API processes' own homes: all state is shared.
    for home in homes:
        assert [p for p in home.rglob("*") if p.is_file()] == []
