"""The saga's command line and embedded mode, end to end on real servers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnihub.cli import app
from omnihub.config import load_settings
from omnihub.errors import ConfigurationError
from omnihub.plans import Plan, PlanStep
from omnihub.runtime import run_worker
from omnihub.saga import TemporalSupervisor
from omnihub.servers import EmbeddedTemporal, port_open
from omnihub.tools import default_registry, open_database


@pytest.fixture
def embedded_worker(omnihub_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``run_worker`` in embedded mode (it starts the Temporal dev server under the home)."""
    monkeypatch.setenv("OMNIHUB_TOOLS_ALLOWED_TABLES", '["orders"]')
    monkeypatch.setenv("OMNIHUB_TASK_QUEUE", "cli-test")
    database = open_database(f"sqlite:///{omnihub_home / 'events.db'}")
    with database.transaction() as cursor:
        cursor.execute(
            "CREATE TABLE orders (id TEXT PRIMARY KEY, tenant_id TEXT, sku TEXT, qty INTEGER)"
        )
    database.close()
    settings = load_settings()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            loop.run_until_complete(run_worker(settings, stop=stop, on_ready=ready.set))
        except BaseException as exc:
            failures.append(exc)
            ready.set()

    thread = threading.Thread(target=serve)
    thread.start()
    assert ready.wait(90)
    assert not failures
    yield omnihub_home
    loop.call_soon_threadsafe(stop.set)
    thread.join(60)
    loop.close()
    assert not failures


def test_saga_commands_start_inspect_and_steer_a_goal(embedded_worker: Path) -> None:
    plan = Plan(
        steps=[
            PlanStep(
                id="s1",
                tool="database_write",
                args={"table": "orders", "values": {"sku": "cli", "qty": 1}},
            ),
            PlanStep(id="s2", tool="respond_to_user", args={"message": "done"}, depends_on=["s1"]),
        ]
    )
    plan_file = embedded_worker / "plan.json"
    plan_file.write_text(plan.model_dump_json())
    runner = CliRunner()
    started = runner.invoke(
        app, ["saga", "start", "order via the CLI", "--plan", str(plan_file), "--wait"]
    )
    assert started.exit_code == 0, started.output
    goal_id, _, body = started.stdout.partition("\n")
    result = json.loads(body)
    assert result["status"] == "completed"
    assert result["answer"] == "done"
    state = runner.invoke(app, ["saga", "state", goal_id])
    assert state.exit_code == 0
    assert json.loads(state.stdout)["status"] == "completed"
    cancel = runner.invoke(app, ["saga", "cancel", goal_id])
    assert cancel.exit_code == 1
    assert "has ended already" in cancel.stderr
    decide = runner.invoke(app, ["saga", "decide", goal_id, "s1", "--approve"])
    assert decide.exit_code == 1
    missing = runner.invoke(app, ["saga", "state", "no-such-goal"])
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr
    bad = runner.invoke(app, ["saga", "start", "x", "--plan", str(embedded_worker / "nope.json")])
    assert bad.exit_code == 1
    assert "cannot read plan file" in str(bad.exception)
    assert (embedded_worker / "temporal" / "server.json").is_file()


def test_the_supervisor_restarts_a_dead_embedded_server(tmp_path: Path) -> None:
    supervisor = TemporalSupervisor(tmp_path / "temporal")
    address = supervisor.ensure()
    try:
        assert supervisor.owns_server
        assert TemporalSupervisor(tmp_path / "temporal").ensure() == address  # shared
        host, port = address.split(":")
        server_pid = json.loads((tmp_path / "temporal" / "server.json").read_text())["pid"]
        os.killpg(server_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while port_open(host, int(port)) and time.monotonic() < deadline:
            time.sleep(0.05)  # the port closes when the process is gone

        async def watch_briefly() -> None:
            watching = asyncio.create_task(supervisor.watch(interval=0.2))
            try:
                async with asyncio.timeout(60):
                    while not port_open(host, int(port)):  # noqa: ASYNC110
                        await asyncio.sleep(0.2)
            finally:
                watching.cancel()

        asyncio.run(watch_briefly())
        assert supervisor.address == address  # same port, same database file
        restarted = json.loads((tmp_path / "temporal" / "server.json").read_text())["pid"]
        assert restarted != server_pid
        # The dead server was reaped by the supervisor: no zombie, and no Popen collected
        # while "still running" (a ResourceWarning, an error under filterwarnings=error).
        with pytest.raises(ChildProcessError):
            os.waitpid(server_pid, os.WNOHANG)
    finally:
        supervisor.stop()


def test_bad_tool_modules_are_configuration_errors() -> None:
    from omnihub.cli._saga import load_tools

    names = [spec.name for spec in load_tools("omnihub.tools:builtin_tools")]
    assert names == default_registry().names()
    with pytest.raises(ConfigurationError, match="cannot load tools"):
        load_tools("omnihub.nowhere:tools")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_worker_command_runs_until_terminated(
    temporal_server: EmbeddedTemporal, omnihub_home: Path
) -> None:
    env = {**os.environ, "OMNIHUB_TEMPORAL_ADDRESS": temporal_server.address}
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnihub", "worker", "--tools", "omnihub.bench:saga_bench_tools"],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert b"worker ready" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
