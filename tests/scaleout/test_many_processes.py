"""Scale-out with many processes, all real, on loopback: one PostgreSQL, one Redis (plan cache,
nonces, rate limits), one Temporal server, two ``omnihub serve`` and three ``omnihub worker``
processes sharing their settings and keys through the environment.

Goals are planned by the example set's playbooks behind the shared Redis plan cache, so the
test also sees a plan stored by one worker served to the others. One API and one worker are
killed with SIGKILL mid-run; every goal still ends once, with each side effect done once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from scaleout_support import (
    Processes,
    run_omnihub,
    until,
    wait_api_ready,
    wait_worker_ready,
    with_home,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from omnihub.events import open_event_store
from omnihub.saga import goal_workflow_id
from omnihub.servers import free_port
from omnihub.tools import open_database

# Many processes on a small machine: far above the default per-test timeout on purpose.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

TENANT = "acme"
GOALS = 200
_CITIES = ("Lyon", "Nice", "Paris", "Berlin", "Turin", "Bern", "Madrid", "Seville")
_MONTHS = ("March", "April", "May", "June", "July", "September")
_TERMINAL = {"GoalCompleted", "GoalFailed", "GoalCancelled"}


def _trip(index: int) -> str:
    """A different trip per index; every one plans through the example's book_trip playbook."""
    routes = list(itertools.permutations(_CITIES, 2))
    origin, destination = routes[index % len(routes)]
    day, month = 1 + index % 28, _MONTHS[index // 28 % len(_MONTHS)]
    return f"Book a trip from {origin} to {destination} on {day} {month} 2027"


def _follow(base: str, goal_id: str, auth: dict[str, str]) -> list[str]:
    """The event types of a goal's SSE stream, read until the goal's end."""
    types: list[str] = []
    with httpx.stream(
        "GET", f"{base}/v1/goals/{goal_id}/stream", headers=auth, timeout=120
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("event: "):
                types.append(line.removeprefix("event: "))
                if types[-1] in _TERMINAL:
                    break
    return types


def _goals_in_store(url: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Every goal stream of the tenant: its (event type, payload) in order."""
    streams: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    with open_event_store(url) as store:
        position = 0
        while batch := store.read_all(TENANT, position, 5000):
            for event in batch:
                streams[event.stream_id].append(
                    (event.event_type, event.payload.model_dump(mode="json"))
                )
            position = batch[-1].global_position
    return streams


def _table_counts(url: str) -> dict[str, int]:
    database = open_database(url)
    try:
        with database.transaction() as cursor:
            counts = {}
            for table in ("bookings", "seats", "payments"):
                cursor.execute(f"SELECT COUNT(*) AS n FROM {table}")
                counts[table] = int(cursor.fetchall()[0]["n"])
            return counts
    finally:
        database.close()


@dataclass(frozen=True)
class _Handled:
    """Which workers handled a goal, by their Temporal identity ("pid@host")."""

    planner: str  # ran the planning (cache lookup, or the playbook planner on a miss)
    workers: frozenset[str]  # completed any of its workflow tasks


async def _handled_by(address: str, goal_ids: list[str]) -> dict[str, _Handled]:
    """Goal id → the workers that handled it, read from each workflow's history.

    Planning is a local activity: its marker is recorded by the workflow task that ran it,
    and that task's completion names the worker. Only identities and the marker's activity
    type are read, never payloads (which are encrypted), so this client needs no codec."""
    client = await Client.connect(address)
    found: dict[str, _Handled] = {}

    async def one(goal_id: str) -> None:
        history = await client.get_workflow_handle(
            goal_workflow_id(TENANT, goal_id)
        ).fetch_history()
        completions = {
            e.event_id: e.workflow_task_completed_event_attributes.identity
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        }
        for event in history.events:
            if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
                continue
            marker = event.marker_recorded_event_attributes
            data = marker.details.get("data")
            if data and "prepare_goal" in "".join(
                p.data.decode(errors="replace") for p in data.payloads
            ):
                planner = completions[marker.workflow_task_completed_event_id]
                found[goal_id] = _Handled(planner, frozenset(completions.values()))
                return

    slots = asyncio.Semaphore(16)

    async def bounded(goal_id: str) -> None:
        async with slots:
            await one(goal_id)

    await asyncio.gather(*(bounded(g) for g in goal_ids))
    return found


def test_two_apis_and_three_workers_share_goals_cache_and_survive_kills(
    tmp_path: Path, shared_env: dict[str, str], processes: Processes
) -> None:
    store_url = shared_env["OMNIHUB_EVENT_STORE_URL"]
    cli_env = with_home(shared_env, tmp_path / "home-cli")
    created = run_omnihub(
        cli_env, "keys", "create", "--tenant", TENANT, "--role", "operator", "--json"
    )
    assert created.returncode == 0, created.stderr
    auth = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    # A second operator approves: nobody approves the steps of a goal they submitted.
    second = run_omnihub(
        cli_env, "keys", "create", "--tenant", TENANT, "--role", "operator", "--json"
    )
    assert second.returncode == 0, second.stderr
    approver = {"Authorization": f"Bearer {json.loads(second.stdout)['key']}"}

    ports = [free_port(), free_port()]
    apis = [
        processes.start(
            name, with_home(shared_env, tmp_path / f"home-{name}"), "serve", "--port", str(port)
        )
        for name, port in zip(("api-a", "api-b"), ports, strict=True)
    ]
    workers = [
        processes.start(
            name, with_home(shared_env, tmp_path / f"home-{name}"), "worker", "--example"
        )
        for name in ("worker-1", "worker-2", "worker-3")
    ]
    starting = time.monotonic()
    a, b = (wait_api_ready(api, port) for api, port in zip(apis, ports, strict=True))
    for worker in workers:
        wait_worker_ready(worker)
    began = time.monotonic()
    print(f"2 APIs and 3 workers ready in {began - starting:.1f} s")

    def status(base: str, goal_id: str) -> str:
        answer = httpx.get(f"{base}/v1/goals/{goal_id}", headers=auth, timeout=30)
        return str(answer.json()["status"]) if answer.status_code == 200 else ""

    # A goal submitted at A, followed over SSE at B to its end. It is the first trip: a cache
    # miss that the worker planning it stores in the shared Redis for every other worker.
    first = httpx.post(f"{a}/v1/goals", json={"goal": _trip(0)}, headers=auth, timeout=30)
    assert first.status_code == 202, first.text
    first_id = first.json()["goal_id"]
    followed = _follow(b, first_id, auth)
    assert followed[-1] == "GoalCompleted", (followed, processes.logs())
    assert {"GoalReceived", "PlanGenerated", "StepCompleted"} <= set(followed), followed

    # A wire needs approval: submitted at A, approved at B, whichever worker holds the goal.
    wire = httpx.post(
        f"{a}/v1/goals",
        json={"goal": "Wire 1200 EUR to supplier@example.com"},
        headers=auth,
        timeout=30,
    )
    assert wire.status_code == 202, wire.text
    wire_id = wire.json()["goal_id"]
    assert until(lambda: status(b, wire_id) == "awaiting_approval", 90), status(b, wire_id)
    decided = httpx.post(
        f"{b}/v1/goals/{wire_id}/approvals/wire",
        json={"decision": "approve", "reason": "known supplier"},
        headers=approver,
        timeout=60,
    )
    assert decided.status_code == 200, decided.text
    assert until(lambda: status(b, wire_id) == "completed", 90), status(b, wire_id)

    # 200 goals round-robin through both APIs, each with its own Idempotency-Key. Halfway,
    # worker-3 is killed; a little later API A is killed while requests are in flight, and
    # the clients retry at B with the same key.
    answered: dict[int, tuple[str, str]] = {}  # index → (api that answered, goal id)
    a_dead = threading.Event()
    moved = Counter[str]()  # requests A never answered, sent again to B

    def submit(index: int) -> None:
        body = {"goal": _trip(index + 1)}
        headers = {**auth, "Idempotency-Key": f"bulk-{index}"}
        base = (a, b)[index % 2]
        if base == a and not a_dead.is_set():
            try:
                answer = httpx.post(f"{a}/v1/goals", json=body, headers=headers, timeout=30)
                if answer.status_code == 202:
                    answered[index] = ("a", answer.json()["goal_id"])
                    return
            except httpx.TransportError:
                moved["in flight"] += 1  # API A died under this request: retry at B, same key
        elif base == a:
            moved["after"] += 1
        answer = httpx.post(f"{b}/v1/goals", json=body, headers=headers, timeout=60)
        assert answer.status_code == 202, answer.text
        answered[index] = ("b", answer.json()["goal_id"])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(submit, range(GOALS // 2)))
        workers[2].kill()
        later = [pool.submit(submit, index) for index in range(GOALS // 2, GOALS)]
        until(lambda: sum(f.done() for f in later) >= 20, 60, every=0.05)
        apis[0].kill()
        a_dead.set()
        for future in later:
            future.result()
    assert len(answered) == GOALS
    goal_ids = {goal_id for _, goal_id in answered.values()}
    assert len(goal_ids) == GOALS

    # Every goal ends, completed, with the two surviving workers.
    everything = goal_ids | {first_id, wire_id}

    def ended() -> dict[str, str]:
        return {
            goal_id: types[-1][0]
            for goal_id, types in _goals_in_store(store_url).items()
            if types[-1][0] in _TERMINAL
        }

    finished = until(lambda: len(ended()) == len(everything), 150, every=1.0)
    streams = _goals_in_store(store_url)
    assert set(streams) == everything, (len(streams), processes.logs())
    assert finished, (Counter(t[-1][0] for t in streams.values()), processes.logs())
    assert Counter(types[-1][0] for types in streams.values()) == {"GoalCompleted": GOALS + 2}
    elapsed = time.monotonic() - began
    print(
        f"{GOALS + 2} goals ended {elapsed:.1f} s after the processes were ready; "
        f"requests moved from A to B: {dict(moved)}"
    )

    # Every key A answered before it died, retried at B after the goals ended: the same goal,
    # never a second one, and no goal runs again.
    from_a = {i: goal_id for i, (api, goal_id) in answered.items() if api == "a"}
    assert from_a
    retries = {}
    for index in from_a:
        again = httpx.post(
            f"{b}/v1/goals",
            json={"goal": _trip(index + 1)},
            headers={**auth, "Idempotency-Key": f"bulk-{index}"},
            timeout=30,
        )
        assert again.status_code == 202, again.text
        retries[index] = again.json()["goal_id"]
    assert retries == from_a

    # No side effect twice: one booking, one seat and one payment per trip, plus the wire.
    assert _table_counts(store_url) == {
        "bookings": GOALS + 1,
        "seats": GOALS + 1,
        "payments": GOALS + 2,
    }

    # The plan the first goal's worker stored is a cache hit on the other workers.
    sources = {
        goal_id: next(p["source"] for t, p in types if t == "PlanGenerated")
        for goal_id, types in streams.items()
    }
    assert sources[first_id] == "playbook"
    handled = asyncio.run(_handled_by(shared_env["OMNIHUB_TEMPORAL_ADDRESS"], sorted(everything)))
    assert set(handled) == everything
    names = {f"{w.popen.pid}@": w.name for w in workers}

    def name_of(identity: str) -> str:
        return next(name for prefix, name in names.items() if identity.startswith(prefix))

    storer = name_of(handled[first_id].planner)
    hits = Counter(name_of(handled[g].planner) for g in goal_ids if sources[g] == "cache")
    assert Counter(sources[g] for g in goal_ids) == {"cache": GOALS}, Counter(sources.values())
    assert {w.name for w in workers[:2]} - {storer} <= set(hits), (storer, hits)
    assert sum(n for name, n in hits.items() if name != storer) > 0, (storer, hits)

    # The killed worker was doing its share when it died: goals it held were finished by the
    # other workers (which completed later workflow tasks of the same goals).
    assert hits[workers[2].name] > 0, hits
    killed = workers[2].name
    taken_over = [
        g
        for g in everything
        if killed in {name_of(i) for i in handled[g].workers}
        and {name_of(i) for i in handled[g].workers} - {killed}
    ]
    assert taken_over, hits
    print(
        f"cache hits per worker: {dict(hits)} (first plan stored by {storer}); "
        f"goals taken over from the killed worker: {len(taken_over)}"
    )

    # The audit passes through the real executable: hash chains, then every invariant.
    verified = run_omnihub(cli_env, "audit", "verify", "--tenant", TENANT)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    checked = run_omnihub(cli_env, "audit", "check", "--tenant", TENANT, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["goals"] == GOALS + 2, report
    # Nothing ran again after the retries: each goal still ends with its one GoalCompleted.
    after = _goals_in_store(store_url)
    assert {g: [t for t, _ in types] for g, types in after.items()} == {
        g: [t for t, _ in types] for g, types in streams.items()
    }
