"""Start, wait for and stop a local server process, leaving nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from omnihub.config import private_file
from omnihub.errors import ServerError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class ServerProcess:
    """A child server process with its log file; stops its whole process group."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        try:
            private_file(self.log_path)  # 0600 in a 0700 directory, like every OmniHub file
        except OSError as exc:
            raise ServerError(f"cannot create {self.log_path}: {exc}") from exc
        with self.log_path.open("ab") as log:
            try:
                # A new session, so stop() can signal the server and any children it forks.
                self._process = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    # What the server creates (the Temporal dev server's database and its
                    # -wal/-shm files) is private to this user too.
                    umask=0o077,
                )
            except OSError as exc:
                raise ServerError(f"cannot start {self.name}: {exc}") from exc

    def wait_for_port(self, host: str, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with status {self._process.returncode}; "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            if port_open(host, port):
                return
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"{self.name} did not listen on {host}:{port} within {timeout:.0f}s")

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0, *, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL with ``kill``) the process group, escalating after ``timeout``."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
