"""Helpers of the scale-out tests: OmniHub processes (``omnihub serve``, ``omnihub worker``, the
command line) started as separate OS processes that share their settings through the
environment, with their output in log files so a long run never blocks on a full pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from omnihub.servers import port_open

_T = TypeVar("_T")


def omnihub_command() -> list[str]:
    """The installed ``omnihub`` executable next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).parent / "omnihub"
    return [str(script)] if script.exists() else [sys.executable, "-m", "omnihub"]


def run_omnihub(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one ``omnihub`` command to its end."""
    return subprocess.run(
        [*omnihub_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def with_home(env: dict[str, str], home: Path) -> dict[str, str]:
    """``env`` with its own, new and empty, OMNIHUB_HOME."""
    home.mkdir()
    return {**env, "OMNIHUB_HOME": str(home)}


def until(check: Callable[[], _T], timeout: float = 60.0, every: float = 0.3) -> _T:
    """Call ``check`` until it returns something true or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@dataclass
class Process:
    """One OmniHub process and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()


@dataclass
class Processes:
    """The processes a test started; all stopped (SIGTERM, then SIGKILL) at its end."""

    log_dir: Path
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, env: dict[str, str], *args: str) -> Process:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "omnihub", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def logs(self) -> str:
        """Every process's output, for a failure message."""
        return "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in self.started)

    def stop(self) -> None:
        live = [p for p in self.started if p.popen.poll() is None]
        for process in live:
            process.popen.send_signal(signal.SIGTERM)
        for process in live:
            try:
                process.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_api_ready(process: Process, port: int, timeout: float = 90) -> str:
    """The base URL of an ``omnihub serve`` process once its /readyz says ready."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        assert process.popen.poll() is None, process.output()
        assert time.monotonic() < deadline, f"{process.name} did not become ready"
        if port_open("127.0.0.1", port):
            ready = httpx.get(f"{base}/readyz", timeout=10)
            if ready.status_code == 200 and ready.json()["status"] == "ready":
                return base
        time.sleep(0.2)


def wait_worker_ready(process: Process, timeout: float = 90) -> None:
    """Return once an ``omnihub worker`` process says it polls its task queue."""
    deadline = time.monotonic() + timeout
    while "worker ready" not in process.output():
        assert process.popen.poll() is None, process.output()
        assert time.monotonic() < deadline, f"{process.name} did not become ready"
        time.sleep(0.2)


def shared_settings(**settings: str) -> dict[str, str]:
    """This process's environment without any OMNIHUB_ setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    env.update(settings)
    return env
