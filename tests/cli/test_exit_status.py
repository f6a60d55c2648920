"""Exit statuses of the real ``omnihub`` executable, for every command that can fail.

Each case runs ``python -m omnihub`` in a subprocess (the same entry point as the console
script), so the status is the one a shell or a CI job sees: 0 on success, 1 when the command
fails, 2 for bad arguments and for ``omnihub run`` giving up on a goal.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from omnihub.events import GoalReceived, NewEvent, StepCompleted, open_event_store
from omnihub.servers import EmbeddedTemporal


def omnihub(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnihub", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def assert_status(proc: subprocess.CompletedProcess[str], status: int, message: str) -> None:
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert message in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


# (arguments, expected status, text the output names the problem with)
FAILURES: list[tuple[list[str], int, str]] = [
    # Bad arguments: Click's usage errors.
    (["no-such-command"], 2, "No such command"),
    (["audit", "verify", "--bogus"], 2, "No such option"),
    (["keys", "create", "--tenant", "t", "--role", "bogus"], 2, "Invalid value for '--role'"),
    (["serve", "--port", "x"], 2, "Invalid value for '--port'"),
    (["bench", "saga", "--goals", "0"], 2, "Invalid value for '--goals'"),
    (["cache", "bench", "--entries", "0"], 2, "Invalid value for '--entries'"),
    (["bench", "planning", "--goals", "0"], 2, "Invalid value for '--goals'"),
    (["run"], 2, "Missing argument"),
    # Commands that fail: one line on stderr, status 1.
    (["keys", "revoke", "no-such-key"], 1, "no active API key with id 'no-such-key'"),
    (["events", "show", "no-such-goal"], 1, "goal 'no-such-goal' has no events"),
    (["status", "no-such-goal"], 1, "goal 'no-such-goal' of tenant 'default' has no events"),
    (["cache", "invalidate", "--tenant", "t"], 1, "give exactly one of --tool NAME or --all"),
    (
        ["cache", "invalidate", "--tenant", "t", "--all", "--backend", "bogus"],
        1,
        "unknown plan cache backend 'bogus'",
    ),
    (["cache", "eval", "--dataset", "empty.jsonl"], 1, "empty.jsonl has no records"),
    (["cache", "eval", "--dataset", "missing.jsonl"], 1, "cannot read dataset"),
    (["cache", "bench", "--backend", "bogus", "--entries", "1"], 1, "unknown plan cache backend"),
    (["usage", "--since", "last tuesday"], 1, "is not a date"),
    (["plan", "Pay 10 EUR to ana@example.com", "--planner", "openai"], 1, "needs a model"),
    (["worker", "--tools", "omnihub.nowhere:tools"], 1, "cannot load tools"),
    (["saga", "start", "a goal", "--plan", "missing.json"], 1, "cannot read plan file"),
    (["approve", "some-goal", "s1"], 1, "no OmniHub stack is running"),
    (["cancel", "some-goal"], 1, "no OmniHub stack is running"),
    (["run", "Book a train from Lyon to Nice"], 1, "no OmniHub stack is running"),
    (["bench", "events", "--backend", "mysql"], 1, "unknown backend 'mysql'"),
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("args", "status", "message"), FAILURES, ids=[" ".join(case[0]) for case in FAILURES]
)
def test_failing_command_exits_with_its_status(
    args: list[str], status: int, message: str, tmp_path: Path
) -> None:
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    assert_status(omnihub(*args, cwd=tmp_path), status, message)


def _store_with_events(path: Path) -> str:
    url = f"sqlite:///{path}"
    with open_event_store(url) as store:
        store.append(
            "acme",
            "goal-1",
            [
                NewEvent(payload=GoalReceived(goal="Refund order ORD-1", user_id="u")),
                NewEvent(payload=StepCompleted(step_id="s1", result={"amount": 10})),
            ],
        )
    return url


def test_audit_verify_exits_zero_on_an_intact_store_and_one_on_a_tampered_one(
    tmp_path: Path,
) -> None:
    url = _store_with_events(tmp_path / "events.db")
    intact = omnihub("audit", "verify", "--store-url", url, cwd=tmp_path)
    assert_status(intact, 0, "every chain intact")
    with sqlite3.connect(tmp_path / "events.db") as conn:
        changed = conn.execute(
            "UPDATE omnihub_events SET payload = ? WHERE stream_version = 2",
            ('{"result":{"amount":1000},"step_id":"s1"}',),
        ).rowcount
    assert changed == 1
    tampered = omnihub("audit", "verify", "--store-url", url, cwd=tmp_path)
    assert_status(tampered, 1, "chain broken")
    assert "'goal-1', version 2" in tampered.stderr


@pytest.mark.timeout(180)
def test_run_exits_two_when_it_gives_up_following_a_goal(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    # No worker listens on this task queue, so the goal never moves and `run` times out.
    env = {
        "OMNIHUB_TEMPORAL_ADDRESS": temporal_server.address,
        "OMNIHUB_TASK_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}",
    }
    proc = omnihub("run", "Book a train from Lyon to Nice", "--timeout", "1", cwd=tmp_path, env=env)
    assert_status(proc, 2, "still running")


@pytest.mark.timeout(180)
def test_saga_state_of_an_unknown_goal_exits_one(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    env = {"OMNIHUB_TEMPORAL_ADDRESS": temporal_server.address}
    proc = omnihub("saga", "state", f"no-such-goal-{uuid.uuid4().hex[:8]}", cwd=tmp_path, env=env)
    assert_status(proc, 1, "error:")


def test_successful_commands_exit_zero(tmp_path: Path) -> None:
    assert_status(omnihub("version", cwd=tmp_path), 0, "")
    assert_status(omnihub("keys", "list", cwd=tmp_path), 0, "key id")
