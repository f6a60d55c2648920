"""``omnihub bench saga --compare dbos``: the same goals (S sequential steps, each inserting one
row) as DBOS workflows on the embedded PostgreSQL, and the rows a SIGKILL leaves twice.

DBOS keeps global state (one launched instance per process), so each part runs in a child
process of this module: ``run`` times N workflows; ``start`` starts N workflows and is killed
by the parent mid-run; ``recover`` launches DBOS again, which resumes the killed process's
pending workflows, and waits for them. DBOS is a dev-only dependency, imported only here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from omnihub.errors import ServerError

_TABLE = "dbos_effects"
_APP = "omnihub-bench"


def _launch(url: str, pool: int) -> Any:
    """DBOS on ``url`` with the benchmark's workflow; the workflow function."""
    import psycopg_pool
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {
        "name": _APP,
        "system_database_url": url,
        "sys_db_pool_size": pool,
        "log_level": "ERROR",
        "executor_id": "bench",
    }
    DBOS(config=config)
    rows = psycopg_pool.AsyncConnectionPool(url, min_size=1, max_size=pool, open=False)

    @DBOS.step()
    async def insert(goal: str, step: int) -> str:
        # Like the saga's tool: one row per (goal, step) with a fresh id, so a step that runs
        # twice leaves two rows (DBOS steps are at-least-once across a crash).
        if rows.closed:
            await rows.open()
        row_id = uuid.uuid4().hex
        async with rows.connection() as conn:
            await conn.execute(
                f"INSERT INTO {_TABLE} (id, goal, step) VALUES (%s, %s, %s)",
                (row_id, goal, str(step)),
            )
        return row_id

    @DBOS.workflow()
    async def goal_workflow(goal: str, steps: int) -> int:
        for step in range(steps):
            await insert(goal, step)
        return steps

    DBOS.launch()
    return goal_workflow


def prepare(url: str) -> None:
    """The effects table, empty."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {_TABLE}")
        conn.execute(f"CREATE TABLE {_TABLE} (id TEXT PRIMARY KEY, goal TEXT, step TEXT)")


def duplicates(url: str) -> dict[str, int]:
    """Rows beyond the first for the same (goal, step), and the (goal, step) pairs present."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT goal || '/' || step) FROM {_TABLE}"
        ).fetchone()
    assert row is not None
    return {"rows": int(row[0]), "duplicate_side_effects": int(row[0]) - int(row[1])}


async def _run(url: str, goals: int, steps: int, rate: float | None, prefix: str) -> dict[str, Any]:
    from dbos import DBOS, SetWorkflowID

    from omnihub.bench._saga import _drive

    workflow = _launch(url, pool=20)

    async def start(index: int) -> Any:
        with SetWorkflowID(f"{prefix}-{index}"):
            return await DBOS.start_workflow_async(workflow, f"{prefix}-{index}", steps)

    async def finish(handle: Any) -> bool:
        return bool(await handle.get_result() == steps)

    try:
        return await _drive(goals, rate, start, finish)
    finally:
        DBOS.destroy()


async def _recover(url: str) -> dict[str, Any]:
    """Launch DBOS again (it resumes this executor's pending workflows) and wait for them."""
    import psycopg
    from dbos import DBOS

    began = time.perf_counter()
    _launch(url, pool=20)
    try:
        while True:
            with psycopg.connect(url) as conn:
                row = conn.execute(
                    "SELECT COUNT(*) FROM dbos.workflow_status"
                    " WHERE status IN ('PENDING', 'ENQUEUED')"
                ).fetchone()
            if row is not None and int(row[0]) == 0:
                return {"recovered_s": round(time.perf_counter() - began, 2)}
            await asyncio.sleep(0.2)
    finally:
        DBOS.destroy()


def _child(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "omnihub.bench._saga_peer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )


def _answer(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    lines = out.decode().strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ServerError(f"the DBOS child failed (exit {proc.returncode})")
    answer: dict[str, Any] = json.loads(lines[-1])
    return answer


def run_dbos(url: str, goals: int, steps: int, rate: float | None) -> dict[str, Any]:
    """N DBOS workflows of S steps (all at once, or ``rate`` per second), timed like the saga."""
    prepare(url)
    figures = _answer(_child("run", url, str(goals), str(steps), str(rate or 0)), 1800)
    figures.update(duplicates(url))
    return {
        "runtime": "dbos 3.4, steps (PostgreSQL)",
        "goals": goals,
        "steps": steps,
        "rate": rate,
        **figures,
    }


def kill_dbos(url: str, goals: int, steps: int, kill_after_rows: int) -> dict[str, Any]:
    """Start N workflows in a child, SIGKILL it once ``kill_after_rows`` rows exist, resume
    them in a new child, and count the rows written twice."""
    import psycopg

    prepare(url)
    proc = _child("run", url, str(goals), str(steps), "0")
    try:
        while proc.poll() is None:
            with psycopg.connect(url) as conn:
                row = conn.execute(f"SELECT COUNT(*) FROM {_TABLE}").fetchone()
            if row is not None and int(row[0]) >= kill_after_rows:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    recovered = _answer(_child("recover", url), 600)
    counts = duplicates(url)
    return {
        "goals": goals,
        "steps": steps,
        "killed_after_rows": kill_after_rows,
        **recovered,
        **counts,
        "missing_side_effects": goals * steps - (counts["rows"] - counts["duplicate_side_effects"]),
    }


def _main(argv: list[str]) -> None:
    # The workflow sandbox never loads this module; the guard keeps an import from running.
    if argv[0] == "run":
        url, goals, steps, rate = argv[1], int(argv[2]), int(argv[3]), float(argv[4])
        result = asyncio.run(_run(url, goals, steps, rate or None, uuid.uuid4().hex[:8]))
    else:
        result = asyncio.run(_recover(argv[1]))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # DBOS's background threads must not hold the exit


if __name__ == "__main__":
    _main(sys.argv[1:])
