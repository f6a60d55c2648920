"""``omnihub up`` as users run it (a subprocess), with ``run``, ``status`` and ``cancel``
against it; Ctrl-C/SIGTERM must leave no process behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from omnihub.cli import app
from omnihub.errors import OmniHubError
from omnihub.servers import free_port, port_open


def _omnihub(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnihub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_goal_commands_need_a_running_stack(omnihub_home: Path) -> None:
    env = {**os.environ, "OMNIHUB_HOME": str(omnihub_home)}
    result = _omnihub(env, "cancel", "some-goal")
    assert result.returncode == 1
    assert "no OmniHub stack is running" in result.stderr
    assert "Traceback" not in result.stderr
    missing = _omnihub(env, "status", "some-goal")
    assert missing.returncode == 1
    assert "has no events" in missing.stderr


@pytest.mark.slow
def test_up_runs_the_stack_and_sigterm_stops_everything(omnihub_home: Path) -> None:
    with sqlite3.connect(omnihub_home / "events.db") as db:
        db.execute(
            "CREATE TABLE bookings (id TEXT PRIMARY KEY, tenant_id TEXT, kind TEXT, origin TEXT,"
            " destination TEXT, date TEXT)"
        )
    env = {
        **os.environ,
        "OMNIHUB_HOME": str(omnihub_home),
        "OMNIHUB_TOOLS_ALLOWED_TABLES": '["bookings"]',
    }
    key = json.loads(
        _omnihub(
            env, "keys", "create", "--tenant", "default", "--role", "operator", "--json"
        ).stdout
    )["key"]
    port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "omnihub", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    temporal_pid = None
    try:
        deadline = time.monotonic() + 90
        while not port_open("127.0.0.1", port):
            assert up.poll() is None, up.communicate()
            assert time.monotonic() < deadline, "omnihub up did not start"
            time.sleep(0.2)
        temporal_pid = json.loads((omnihub_home / "temporal" / "server.json").read_text())["pid"]
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ready"

        # The goal commands run in this process (CliRunner) against the running stack.
        runner = CliRunner(env=env)
        ran = runner.invoke(app, ["run", "Book a train from Lyon to Nice on 3 March 2027"])
        assert ran.exit_code == 0, ran.output
        assert "Your train from Lyon to Nice on 2027-03-03 is booked." in ran.stdout
        goal_id = ran.stdout.split("submitted goal ", 1)[1].split()[0]

        shown = runner.invoke(app, ["status", goal_id, "--json"])
        assert json.loads(shown.stdout)["status"] == "completed"
        table = runner.invoke(app, ["status", goal_id])
        assert "database_write" in table.stdout
        assert "completed" in table.stdout
        api = httpx.get(
            f"http://127.0.0.1:{port}/v1/goals/{goal_id}",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert api.json()["status"] == "completed"

        nothing = runner.invoke(app, ["run", "Compose a sonnet about the sea"])
        assert nothing.exit_code == 1
        assert "no playbook matches" in nothing.stdout

        late = runner.invoke(app, ["cancel", goal_id, "--reason", "too late"])
        assert late.exit_code == 1
        assert isinstance(late.exception, OmniHubError)
        no_wait = runner.invoke(app, ["approve", goal_id, "book", "--reject"])
        assert no_wait.exit_code == 1
        assert isinstance(no_wait.exception, OmniHubError)
    finally:
        up.send_signal(signal.SIGTERM)
        out, err = up.communicate(timeout=60)
    assert up.returncode == 0, err
    assert "OmniHub is up" in out
    assert "OmniHub stopped." in out
    assert temporal_pid is not None
    time.sleep(0.5)
    assert not _alive(temporal_pid), "the Temporal dev server outlived omnihub up"
    assert not port_open("127.0.0.1", port)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited but not been reaped; treat it as gone.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()
