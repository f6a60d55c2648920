"""``omnihub bench saga --workers N``: goals/s with N worker *processes*, AgentSaga against the
bare Temporal baseline at the same worker count, on the scale-out backends (one Temporal
server, one PostgreSQL for events, tools' rows and the ledger).

Each side gets N fresh processes on its own task queue: ``omnihub worker`` with the benchmark's
tools, or this module run as ``python -m omnihub.bench._saga_workers`` (a bare worker). The
driver only starts goals and waits for their results, so its own CPU use stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from omnihub.bench._saga import (
    _RPC_TIMEOUT,
    _TABLES,
    _create_tables,
    _drive_bare,
    _drive_sagas,
    _duplicates,
    saga_bench_tools,
)
from omnihub.bench._saga_baseline import BareBenchmark, BareEffects
from omnihub.crypto import KeyRing, encrypted_data_converter
from omnihub.events import open_event_store
from omnihub.guard import PolicyStore, defaults_permitting
from omnihub.saga import SagaClient, workflow_runner
from omnihub.servers import EmbeddedPostgres, EmbeddedTemporal
from omnihub.tools import open_database

_READY = "worker ready"
# The same ceilings as an `omnihub worker` with the default settings, so neither side gets
# more slots per process than the other.
_BARE_SLOTS = 100


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )


def _wait_ready(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode(errors="replace")
        if _READY not in line:
            raise RuntimeError(f"a benchmark worker did not start (exit {proc.wait()})")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def _with_workers(
    count: int,
    args: list[str],
    env: dict[str, str],
    log: Path,
    run: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Start ``count`` worker processes, wait until each polls, then ``run`` the goals."""
    began = time.monotonic()
    procs = [_spawn(args, env, log) for _ in range(count)]
    try:
        await asyncio.to_thread(_wait_ready, procs)
        ready_s = time.monotonic() - began
        figures = await run()
        figures["workers_ready_s"] = round(ready_s, 1)
        return figures
    finally:
        await asyncio.to_thread(_stop, procs)


async def run_saga_workers_benchmark(
    goals: int, steps: int, workers: int, work_dir: Path, *, rate: float | None = None
) -> dict[str, Any]:
    """``goals`` goals of ``steps`` steps with ``workers`` worker processes per side: the bare
    baseline first, then AgentSaga; the JSON-ready result (same figures as ``bench saga``)."""
    ring = KeyRing.generate()
    temporal = EmbeddedTemporal(work_dir / "temporal").start()
    postgres = EmbeddedPostgres(work_dir / "pgdata").start()
    try:
        db_url = postgres.create_database("bench")
        database = open_database(db_url)
        _create_tables(database)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
        env.update(
            OMNIHUB_HOME=str(work_dir / "home"),
            OMNIHUB_TEMPORAL_ADDRESS=temporal.address,
            OMNIHUB_EVENT_STORE_URL=db_url,
            OMNIHUB_CODEC_KEYS=ring.dumps(),
            OMNIHUB_CACHE_URL="memory://",
            OMNIHUB_TOOLS_ALLOWED_TABLES=json.dumps(list(_TABLES)),
        )
        client = await Client.connect(
            temporal.address, data_converter=encrypted_data_converter(ring)
        )
        log = work_dir / "workers.log"

        bare_queue = f"bare-{uuid.uuid4().hex[:6]}"
        baseline = await _with_workers(
            workers,
            ["-m", "omnihub.bench._saga_workers", bare_queue, db_url],
            env,
            log,
            lambda: _drive_bare(client, bare_queue, goals, steps, rate),
        )
        baseline["duplicate_side_effects"] = _duplicates(database, "baseline_effects")

        # Workers decide by the tenant's stored policy set (fail closed): permit the bench tools,
        # as an operator would for tools of their own.
        permit = defaults_permitting(tool.name for tool in saga_bench_tools())
        with open_event_store(db_url) as store:
            PolicyStore(store).apply("bench", permit.text, applied_by="bench", reason="bench tools")
        saga_queue = f"saga-{uuid.uuid4().hex[:6]}"
        sagas = SagaClient(
            client, task_queue=saga_queue, tenant_id="bench", rpc_timeout=_RPC_TIMEOUT
        )
        saga = await _with_workers(
            workers,
            ["-m", "omnihub", "worker", "--tools", "omnihub.bench:saga_bench_tools"],
            {**env, "OMNIHUB_TASK_QUEUE": saga_queue},
            log,
            lambda: _drive_sagas(sagas, goals, steps, rate),
        )
        saga["duplicate_side_effects"] = _duplicates(database, "bench_effects")
        database.close()
        shape = {"goals": goals, "steps": steps, "rate": rate, "workers": workers}
        return {
            **shape,
            **saga,
            "store": "postgresql",
            "baseline": {**shape, **baseline},
            "overhead_ratio": (
                round(baseline["goals_per_s"] / saga["goals_per_s"], 3)
                if saga["goals_per_s"]
                else None
            ),
        }
    finally:
        postgres.stop()
        temporal.stop()


async def _bare_worker(queue: str, db_url: str) -> None:
    """One bare baseline worker process, until SIGTERM."""
    ring = KeyRing.parse(os.environ["OMNIHUB_CODEC_KEYS"], "OMNIHUB_CODEC_KEYS")
    client = await Client.connect(
        os.environ["OMNIHUB_TEMPORAL_ADDRESS"], data_converter=encrypted_data_converter(ring)
    )
    database = open_database(db_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[BareBenchmark],
            activities=[BareEffects(database).bare_effect],
            workflow_runner=workflow_runner(),
            max_concurrent_activities=_BARE_SLOTS,
            max_concurrent_workflow_tasks=_BARE_SLOTS,
        ):
            print(f"{_READY} on task queue {queue!r}", flush=True)
            await stop.wait()
    finally:
        database.close()


if __name__ == "__main__":
    # Guarded: the workflow sandbox imports workflow modules again, never this entry point.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_bare_worker(sys.argv[1], sys.argv[2]))
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio/sdk-python#300: a finished worker can abort at interpreter exit.
    os._exit(0)
