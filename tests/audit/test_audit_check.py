"""The invariant checker on stores written event by event: each invariant it must catch,
and the exit statuses of ``omnihub audit check`` run as the real executable."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from omnihub.audit import check_deployment
from omnihub.events import NewEvent, default_registry, open_event_store
from omnihub.tools import IdempotencyLedger, idempotency_key, open_database

TENANT = "acme"


def _event(event_type: str, payload: dict[str, Any], key: str) -> NewEvent:
    model = default_registry.model_for(event_type)
    return NewEvent(payload=model.model_validate(payload, strict=False), idempotency_key=key)


def _goal(url: str, goal_id: str, *, undo_order: list[str], end: str | None = "GoalFailed") -> None:
    """A goal of two undoable steps that completed s0 then s1, then compensated in
    ``undo_order`` and ended with ``end`` (None: still running)."""
    steps = [{"id": s, "tool": "chaos_reserve"} for s in ("s0", "s1")]
    undo = dict.fromkeys(("s0", "s1"), "chaos_release")
    plan = {"plan_id": f"{goal_id}/plan", "steps": steps, "compensations": undo}
    events = [
        _event("GoalReceived", {"goal": "g", "user_id": "u", "context": {}}, "received"),
        _event("PlanGenerated", {**plan, "source": "playbook"}, "plan"),
        _event("StepCompleted", {"step_id": "s0", "result": {}}, "s0/done"),
        _event("StepCompleted", {"step_id": "s1", "result": {}}, "s1/done"),
    ]
    for step in undo_order:
        payload = {"step_id": step, "tool_name": "chaos_release", "input": {}, "output": {}}
        events.append(_event("CompensationExecuted", payload, f"{step}/undone"))
    if end is not None:
        payload: dict[str, Any] = (
            {"result": None}
            if end == "GoalCompleted"
            else {"error": "boom", "partial_results": {}, "compensations": []}
        )
        events.append(_event(end, payload, "end"))
    with open_event_store(url) as store:
        store.append(TENANT, goal_id, events)


def _check(url: str) -> Any:
    async def main() -> Any:
        with open_event_store(url) as store:
            database = open_database(url)
            try:
                return await check_deployment(store, database)
            finally:
                database.close()

    return asyncio.run(main())


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each backend: the checker reads any deployment's."""
    if request.param == "postgresql":
        fresh: str = request.getfixturevalue("postgres_url")
        return fresh
    return f"sqlite:///{tmp_path / 'events.db'}"


def test_a_goal_compensated_in_reverse_order_is_sound(url: str) -> None:
    _goal(url, "good", undo_order=["s1", "s0"])
    report = _check(url)
    assert report.ok, report.violations
    assert report.goals == 1
    assert report.statuses == {"failed": 1}


def test_compensations_out_of_lifo_order_are_named(url: str) -> None:
    _goal(url, "good", undo_order=["s1", "s0"])
    _goal(url, "fifo", undo_order=["s0", "s1"])
    report = _check(url)
    assert [(v.goal_id, v.invariant) for v in report.violations] == [("fifo", "lifo")]


def test_a_failed_goal_with_a_step_left_undone_is_a_missing_compensation(url: str) -> None:
    _goal(url, "half", undo_order=["s1"])
    report = _check(url)
    assert [v.invariant for v in report.violations] == ["missing_compensation"]
    assert "s0" in report.violations[0].detail


def test_a_completed_goal_that_compensated_is_flagged(url: str) -> None:
    _goal(url, "odd", undo_order=["s1", "s0"], end="GoalCompleted")
    assert [v.invariant for v in _check(url).violations] == ["compensated_once"]


def test_a_ledger_effect_of_a_step_that_never_completed_is_an_orphan(url: str) -> None:
    _goal(url, "good", undo_order=["s1", "s0"])
    ledger = IdempotencyLedger(open_database(url))
    ledger.record(idempotency_key(TENANT, "good", "s2"), TENANT, "http_request", {})
    ledger.record(idempotency_key(TENANT, "ghost", "s0"), TENANT, "http_request", {})
    ledger.database.close()
    report = _check(url)
    assert [(v.goal_id, v.invariant) for v in report.violations] == [
        ("good", "orphan_effect"),
        ("ghost", "orphan_effect"),
    ]


def test_running_goals_are_unverified_without_temporal(url: str) -> None:
    _goal(url, "live", undo_order=[], end=None)
    report = _check(url)
    assert report.ok
    assert report.unverified == [f"{TENANT}/live"]


def test_a_tampered_event_breaks_the_chain(url: str) -> None:
    _goal(url, "good", undo_order=["s1", "s0"])
    # Behind the store's back, as someone with write access to the database would.
    database = open_database(url)
    payload = "payload" if url.startswith("sqlite") else "payload::text"
    cast = "" if url.startswith("sqlite") else "::json"
    try:
        with database.transaction() as cursor:
            changed = cursor.execute(
                f"UPDATE omnihub_events SET payload = replace({payload}, 'boom', 'fine'){cast} "
                "WHERE event_type = 'GoalFailed'"
            )
    finally:
        database.close()
    assert changed == 1
    report = _check(url)
    assert not report.chain_intact
    assert [v.invariant for v in report.violations] == ["chain"]


def _cli(url: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnihub", "audit", "check", "--store-url", url, "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={"OMNIHUB_HOME": str(home), "PATH": "/usr/bin", "PYTHONPATH": ":".join(sys.path)},
        timeout=60,
    )


def test_the_command_exits_zero_on_a_sound_store(url: str, omnihub_home: Path) -> None:
    _goal(url, "good", undo_order=["s1", "s0"])
    proc = _cli(url, omnihub_home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


def test_the_command_exits_one_naming_the_first_broken_goal(url: str, omnihub_home: Path) -> None:
    _goal(url, "good", undo_order=["s1", "s0"])
    _goal(url, "fifo", undo_order=["s0", "s1"])
    proc = _cli(url, omnihub_home)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["first_violation"]["goal_id"] == "fifo"
    assert "fifo" in proc.stderr


def test_the_command_exits_two_when_running_goals_cannot_be_verified(
    url: str, omnihub_home: Path
) -> None:
    _goal(url, "live", undo_order=[], end=None)
    proc = _cli(url, omnihub_home)
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["unverified"] == [f"{TENANT}/live"]
