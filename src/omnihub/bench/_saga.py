"""``omnihub bench saga``: N goals of S steps through AgentSaga, against a bare Temporal
workflow running the same activity in the same invocation, plus a worker-kill recovery probe
that kills a worker between a side effect's commit and its step's completion.

Everything runs on an embedded stack in a scratch directory: a Temporal dev server, an
SQLite event store and tool database, and workers in this process (the recovery probe runs
its workers as separate ``omnihub worker`` processes so it can kill one with SIGKILL).
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
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.worker import Worker

from omnihub.bench._saga_baseline import BareBenchmark, BareEffects
from omnihub.config import load_settings
from omnihub.crypto import encrypted_data_converter, load_key_ring
from omnihub.errors import ServerError, ValidationError
from omnihub.events import EventStore, open_event_store
from omnihub.guard import PolicyStore, defaults_permitting
from omnihub.plans import Plan, PlanStep
from omnihub.saga import SagaActivities, SagaClient, SagaOptions, build_worker, workflow_runner
from omnihub.servers import EmbeddedPostgres, EmbeddedTemporal
from omnihub.tools import (
    IdempotencyLedger,
    SqlDatabase,
    ToolContext,
    ToolResources,
    ToolSpec,
    default_registry,
    open_database,
    tool,
)

_TABLES = ("bench_effects", "baseline_effects")
# Both sides wait as long as it takes: a burst queues its starts, it does not abandon them.
_RPC_TIMEOUT = timedelta(minutes=10)


class EffectInput(BaseModel):
    step: int


class EffectOutput(BaseModel):
    row_id: str


class SleepInput(BaseModel):
    seconds: float


class SleepOutput(BaseModel):
    slept_s: float


class SlowEffectInput(BaseModel):
    step: int
    seconds: float


async def _hold(ctx: ToolContext, seconds: float) -> float:
    """Sleep ``seconds``, heartbeating; the seconds actually slept."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        await asyncio.sleep(0.1)
        ctx.heartbeat()
    return round(time.monotonic() - began, 3)


async def _insert_once(ctx: ToolContext, step: int) -> EffectOutput:
    """Insert one row for (goal, ``step``) unless the ledger already holds this step's key:
    the claim, the row and the recorded output commit in one transaction."""
    ledger = ctx.resources.database_ledger
    row_id = uuid.uuid4().hex

    def insert() -> EffectOutput:
        ledger.ensure_schema()
        with ctx.resources.database.transaction() as cursor:
            if not ledger.claim_in(cursor, ctx.idempotency_key, ctx.tenant_id, "bench"):
                return EffectOutput.model_validate(ledger.lookup_in(cursor, ctx.idempotency_key))
            cursor.execute(
                "INSERT INTO bench_effects (id, goal, step) VALUES (?, ?, ?)",
                (row_id, ctx.goal_id, str(step)),
            )
            output = EffectOutput(row_id=row_id)
            ledger.record_in(cursor, ctx.idempotency_key, output.model_dump())
            return output

    return await asyncio.to_thread(insert)


def saga_bench_tools() -> list[ToolSpec]:
    """The benchmark's tools: a row insert guarded by the ledger, a heartbeating sleep, and a
    row insert that then holds the step open (the recovery probe kills a worker there)."""

    # A row insert is short and needs no heartbeat: declared so, it runs as a local step.
    @tool(
        name="bench_effect",
        side_effect=True,
        start_to_close_timeout_s=5.0,
        heartbeat_timeout_s=None,
        description="Insert one benchmark row.",
    )
    async def bench_effect(args: EffectInput, ctx: ToolContext) -> EffectOutput:
        return await _insert_once(ctx, args.step)

    @tool(name="bench_sleep", description="Sleep, heartbeating.")
    async def bench_sleep(args: SleepInput, ctx: ToolContext) -> SleepOutput:
        return SleepOutput(slept_s=await _hold(ctx, args.seconds))

    @tool(
        name="bench_slow_effect",
        side_effect=True,
        description="Insert one benchmark row, then keep the step running for a while.",
    )
    async def bench_slow_effect(args: SlowEffectInput, ctx: ToolContext) -> EffectOutput:
        output = await _insert_once(ctx, args.step)
        await _hold(ctx, args.seconds)
        return output

    return [bench_effect, bench_sleep, bench_slow_effect]


def _create_tables(database: SqlDatabase) -> None:
    with database.transaction() as cursor:
        for table in _TABLES:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, goal TEXT, step TEXT)"
            )


def _bench_resources(db_url: str) -> ToolResources:
    """The tools' resources on the benchmark's database: its ledger and the two tables."""
    database = open_database(db_url)
    return ToolResources(
        ledger=IdempotencyLedger(database), database=database, allowed_tables=frozenset(_TABLES)
    )


def _duplicates(database: SqlDatabase, table: str) -> int:
    """Rows beyond the first for the same (goal, step): effects that happened twice."""
    with database.transaction() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) AS n, COUNT(DISTINCT goal || '/' || step) AS d FROM {table}"
        )
        row = cursor.fetchall()[0]
        return int(row["n"]) - int(row["d"])


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))], 1)

    return {"p50": rank(0.50), "p99": rank(0.99)}


async def _drive(
    goals: int,
    rate: float | None,
    start: Callable[[int], Awaitable[Any]],
    finish: Callable[[Any], Awaitable[bool]],
) -> dict[str, Any]:
    """Start ``goals`` runs (all at once, or ``rate`` per second) and time each of them."""
    began = time.perf_counter()

    async def one(index: int) -> tuple[float, float, bool]:
        if rate:
            await asyncio.sleep(max(0.0, began + index / rate - time.perf_counter()))
        t0 = time.perf_counter()
        handle = await start(index)
        t1 = time.perf_counter()
        ok = await finish(handle)
        return (t1 - t0) * 1000, (time.perf_counter() - t0) * 1000, ok

    runs = await asyncio.gather(*(one(i) for i in range(goals)), return_exceptions=True)
    elapsed = time.perf_counter() - began
    timed = [run for run in runs if isinstance(run, tuple)]
    errors = Counter(
        f"{type(run).__name__}: {run}"[:200] for run in runs if isinstance(run, BaseException)
    )
    for error, count in errors.most_common(5):
        print(f"bench saga: {count} runs failed with {error}", file=sys.stderr)
    completed = sum(1 for run in timed if run[2])
    return {
        "completed": completed,
        "failed": goals - completed,
        "start_latency_ms": _percentiles([run[0] for run in timed]),
        "e2e_latency_ms": _percentiles([run[1] for run in timed]),
        "goals_per_s": round(completed / elapsed, 2) if elapsed else 0.0,
    }


async def _baseline(
    client: Client,
    database: SqlDatabase,
    goals: int,
    steps: int,
    rate: float | None,
    *,
    floor: bool = False,
) -> dict[str, Any]:
    """Bare Temporal: regular activities, or with ``floor`` local activities started eagerly
    (the same design choices as AgentSaga's short steps, with no OmniHub layer)."""
    effects = BareEffects(database)
    queue = f"bare-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareBenchmark],
        activities=[effects.bare_effect],
        workflow_runner=workflow_runner(),
        max_concurrent_activities=100,
        max_concurrent_workflow_tasks=100,
    ):
        figures = await _drive_bare(client, queue, goals, steps, rate, floor=floor)
    figures["duplicate_side_effects"] = _duplicates(database, "baseline_effects")
    return figures


async def _drive_bare(
    client: Client,
    queue: str,
    goals: int,
    steps: int,
    rate: float | None,
    *,
    floor: bool = False,
) -> dict[str, Any]:
    """Run ``goals`` bare workflows on ``queue``, timed; with ``floor``, local activities
    started eagerly (which needs the workers in this process)."""

    async def start(index: int) -> Any:
        goal = f"bare-{index}-{uuid.uuid4().hex[:6]}"
        return await client.start_workflow(
            BareBenchmark.run,
            args=[goal, steps, floor],
            id=goal,
            task_queue=queue,
            rpc_timeout=_RPC_TIMEOUT,
            request_eager_start=floor,
        )

    async def finish(handle: Any) -> bool:
        return bool(await handle.result(rpc_timeout=_RPC_TIMEOUT) == steps)

    return await _drive(goals, rate, start, finish)


async def _drive_sagas(
    sagas: SagaClient, goals: int, steps: int, rate: float | None
) -> dict[str, Any]:
    """Run ``goals`` goals of ``steps`` chained effects through ``sagas``' queue, timed."""
    plan = _chain("bench_effect", steps)

    async def start(index: int) -> str:
        return await sagas.start(f"benchmark goal {index}", plan)

    async def finish(goal_id: str) -> bool:
        return (await sagas.result(goal_id)).status == "completed"

    return await _drive(goals, rate, start, finish)


def _chain(tool_name: str, steps: int) -> Plan:
    return Plan(
        steps=[
            PlanStep(
                id=f"s{n}",
                tool=tool_name,
                args={"step": n},
                depends_on=[f"s{n - 1}"] if n else [],
            )
            for n in range(steps)
        ]
    )


async def _saga(
    client: Client,
    store: EventStore,
    resources: ToolResources,
    goals: int,
    steps: int,
    rate: float | None,
) -> dict[str, Any]:
    queue = f"saga-{uuid.uuid4().hex[:6]}"
    registry = default_registry(saga_bench_tools())
    # The worker's own guard: the tenant's stored policy set, read as a worker reads it.
    activities = SagaActivities(registry, resources, store)
    sagas = SagaClient(
        client,
        task_queue=queue,
        tenant_id="bench",
        options=SagaOptions(),
        rpc_timeout=_RPC_TIMEOUT,
        eager_start=True,  # the worker runs in this process, on this client
    )
    async with build_worker(client, activities, task_queue=queue):
        figures = await _drive_sagas(sagas, goals, steps, rate)
    figures["duplicate_side_effects"] = _duplicates(resources.database, "bench_effects")
    return figures


def _spawn_worker(address: str, db_url: str, queue: str) -> tuple[subprocess.Popen[bytes], float]:
    """An ``omnihub worker`` process; returns it with the seconds it took to be ready."""
    env = {
        **os.environ,
        "OMNIHUB_TEMPORAL_ADDRESS": address,
        "OMNIHUB_EVENT_STORE_URL": db_url,
        "OMNIHUB_TASK_QUEUE": queue,
        "OMNIHUB_TOOLS_ALLOWED_TABLES": json.dumps(list(_TABLES)),
    }
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnihub", "worker", "--tools", "omnihub.bench:saga_bench_tools"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "worker ready …"
    return proc, time.monotonic() - began


def _stop(*procs: subprocess.Popen[bytes] | None) -> None:
    """End the worker processes a probe spawned (those still running) and close their pipes."""
    for proc in procs:
        if proc is None:
            continue
        if proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def _effects_of(database: SqlDatabase, goal_id: str) -> dict[str, int]:
    """Rows in ``bench_effects`` per step of one goal."""
    with database.transaction() as cursor:
        cursor.execute(
            "SELECT step, COUNT(*) AS n FROM bench_effects WHERE goal = ? GROUP BY step",
            (goal_id,),
        )
        return {str(row["step"]): int(row["n"]) for row in cursor.fetchall()}


async def _recovery(
    client: Client, store: EventStore, database: SqlDatabase, address: str, db_url: str
) -> dict[str, Any]:
    """Kill a worker with SIGKILL in the middle of a step with a side effect, after the effect
    has committed and before the step completes (the window where a retry could do it
    twice); time the step's retry on a new worker, then count the effects of every step."""
    queue = f"recovery-{uuid.uuid4().hex[:6]}"
    sagas = SagaClient(client, task_queue=queue, tenant_id="bench")
    plan = Plan(
        steps=[
            PlanStep(id="s0", tool="bench_effect", args={"step": 0}),
            PlanStep(
                id="s1", tool="bench_slow_effect", args={"step": 1, "seconds": 3}, depends_on=["s0"]
            ),
            PlanStep(id="s2", tool="bench_effect", args={"step": 2}, depends_on=["s1"]),
        ]
    )

    def started(goal_id: str, step: str) -> list[float]:
        return [
            e.recorded_at.timestamp()
            for e in store.read_stream("bench", goal_id)
            if e.event_type == "StepStarted" and getattr(e.payload, "step_id", None) == step
        ]

    def killed_step_committed(goal_id: str) -> bool:
        return bool(started(goal_id, "s1")) and _effects_of(database, goal_id).get("1", 0) > 0

    first, _ = await asyncio.to_thread(_spawn_worker, address, db_url, queue)
    second = None
    try:
        goal_id = await sagas.start("recovery probe", plan)
        while not await asyncio.to_thread(killed_step_committed, goal_id):  # noqa: ASYNC110 - polls the store
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        launched = time.time()
        second, ready_s = await asyncio.to_thread(_spawn_worker, address, db_url, queue)
        result = await asyncio.wait_for(sagas.result(goal_id), 120)
        retried = started(goal_id, "s1")[1:]
        effects = _effects_of(database, goal_id)
        return {
            "completed": result.status == "completed",
            "new_worker_ready_s": round(ready_s, 2),
            "next_step_after_new_worker_start_s": round(retried[0] - launched, 2)
            if retried
            else None,
            "heartbeat_timeout_s": saga_bench_tools()[1].heartbeat_timeout_s,
            "killed_step": "s1",
            "killed_step_retried": bool(retried),
            "effects_per_step": effects,
            "duplicate_side_effects": sum(n - 1 for n in effects.values() if n > 1),
            "missing_side_effects": sum(1 for step in ("0", "1", "2") if step not in effects),
        }
    finally:
        _stop(first, second)


async def _pair(
    client: Client,
    store: EventStore,
    resources: ToolResources,
    goals: int,
    steps: int,
    rate: float | None,
    *,
    saga_first: bool,
    peer_url: str | None = None,
) -> dict[str, Any]:
    """The bare baseline, the floor, AgentSaga (and DBOS on ``peer_url``) at one size, back
    to back: in this order, or reversed with ``saga_first``."""
    parts: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "baseline": lambda: _baseline(client, resources.database, goals, steps, rate),
        "floor": lambda: _baseline(client, resources.database, goals, steps, rate, floor=True),
        "saga": lambda: _saga(client, store, resources, goals, steps, rate),
    }
    if peer_url is not None:
        # The peer imports DBOS, a dev-only dependency, in child processes: only when asked.
        from omnihub.bench._saga_peer import run_dbos

        parts["dbos"] = lambda: asyncio.to_thread(run_dbos, peer_url, goals, steps, rate)
    order = list(parts)
    figures = {name: await parts[name]() for name in (order[::-1] if saga_first else order)}
    saga = figures["saga"]
    shape = {"goals": goals, "steps": steps, "rate": rate}
    report: dict[str, Any] = {**shape, **saga}
    report["baseline"] = {**shape, **figures["baseline"]}
    report["floor"] = {**shape, **figures["floor"], "design": "local activities, eager start"}
    report["overhead_ratio"] = (
        round(figures["baseline"]["goals_per_s"] / saga["goals_per_s"], 3)
        if saga["goals_per_s"]
        else None
    )
    if "dbos" in figures:
        peer = figures["dbos"]
        report["peers"] = {"dbos": peer}
        report["ratio"] = {
            "dbos": {
                "goals_per_s": round(saga["goals_per_s"] / peer["goals_per_s"], 2)
                if peer["goals_per_s"]
                else None,
                "e2e_p99": round(saga["e2e_latency_ms"]["p99"] / peer["e2e_latency_ms"]["p99"], 2)
                if peer["e2e_latency_ms"]["p99"]
                else None,
            }
        }
    return report


async def _kill_burst(
    client: Client, database: SqlDatabase, address: str, db_url: str, goals: int, steps: int
) -> dict[str, Any]:
    """The crash half of ``--compare``: ``goals`` goals on an ``omnihub worker`` process
    killed with SIGKILL once a third of their effects committed, then finished by a new
    worker; the effects that happened twice (or never)."""
    queue = f"kill-{uuid.uuid4().hex[:6]}"
    sagas = SagaClient(client, task_queue=queue, tenant_id="bench", rpc_timeout=_RPC_TIMEOUT)
    plan = _chain("bench_effect", steps)
    kill_after = goals * steps // 3

    def rows(goal_ids: set[str]) -> list[tuple[str, str]]:
        with database.transaction() as cursor:
            cursor.execute("SELECT goal, step FROM bench_effects")
            return [(r["goal"], r["step"]) for r in cursor.fetchall() if r["goal"] in goal_ids]

    first, _ = await asyncio.to_thread(_spawn_worker, address, db_url, queue)
    second = None
    try:
        ids = set(
            await asyncio.gather(*(sagas.start(f"kill probe {i}", plan) for i in range(goals)))
        )
        deadline = time.monotonic() + 300
        while len(await asyncio.to_thread(rows, ids)) < kill_after:
            if first.poll() is not None or time.monotonic() > deadline:
                raise ServerError("the kill probe's worker never reached a third of its rows")
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = len(await asyncio.to_thread(rows, ids))
        second, _ = await asyncio.to_thread(_spawn_worker, address, db_url, queue)
        began = time.perf_counter()
        results = await asyncio.gather(*(sagas.result(goal_id) for goal_id in ids))
        done = Counter(await asyncio.to_thread(rows, ids))
        return {
            "goals": goals,
            "steps": steps,
            "killed_after_rows": killed_at,
            "recovered_s": round(time.perf_counter() - began, 2),
            "completed": sum(1 for r in results if r.status == "completed"),
            "rows": sum(done.values()),
            "duplicate_side_effects": sum(n - 1 for n in done.values()),
            "missing_side_effects": goals * steps - len(done),
        }
    finally:
        _stop(first, second)


async def run_saga_benchmark(
    goals: int,
    steps: int,
    rate: float | None,
    work_dir: Path,
    *,
    recovery: bool = True,
    sizes: Sequence[int] = (),
    tracing: bool = False,
    tracing_pairs: int = 5,
    compare: str | None = None,
) -> dict[str, Any]:
    """Run the benchmark in ``work_dir``; the JSON-ready result.

    With ``sizes``, one baseline and one AgentSaga run per size, interleaved (the order
    alternates from size to size, so neither side always runs on a warmer server), each
    reported under ``sweep``; the top-level figures are then those of the last size.
    With ``tracing``, the saga runs again in ``tracing_pairs`` pairs of rounds with tracing
    off and on, each round a fresh process (under ``tracing``).

    ``compare="dbos"`` also runs DBOS on an embedded PostgreSQL at each size (``peers``,
    ``ratio``) and kills each side mid-burst (``kill``: the effects that happened twice).
    """
    if compare not in (None, "dbos"):
        raise ValidationError(f"--compare {compare!r}: the peer runtime is dbos")
    server = EmbeddedTemporal(work_dir / "temporal").start()
    db_url = f"sqlite:///{work_dir / 'events.db'}"
    store = open_event_store(db_url)
    resources = _bench_resources(db_url)
    database = resources.database
    _create_tables(database)
    # Every worker here, in this process or an `omnihub worker`, decides by the tenant's
    # stored policies: the bench tools are permitted as an operator would permit them.
    permit = defaults_permitting(tool.name for tool in saga_bench_tools())
    PolicyStore(store).apply("bench", permit.text, applied_by="bench", reason="bench tools")
    postgres = EmbeddedPostgres(work_dir / "pgdata").start() if compare else None
    try:
        peer_url = postgres.create_database("dbos_bench") if postgres else None
        # The recovery probe's `omnihub worker` processes encrypt payloads with the home's
        # codec keys (connect_temporal); this client must use the same keys.
        ring = await asyncio.to_thread(load_key_ring, load_settings())
        client = await Client.connect(server.address, data_converter=encrypted_data_converter(ring))
        if sizes:
            sweep = [
                await _pair(
                    client,
                    store,
                    resources,
                    size,
                    steps,
                    rate,
                    saga_first=bool(i % 2),
                    peer_url=peer_url,
                )
                for i, size in enumerate(sizes)
            ]
            report = {**sweep[-1], "sweep": sweep}
        else:
            report = await _pair(
                client, store, resources, goals, steps, rate, saga_first=False, peer_url=peer_url
            )
        if tracing:
            from omnihub.bench._tracing import compare_tracing

            report["tracing"] = await compare_tracing(
                ring, server.address, db_url, goals, steps, rate, pairs=tracing_pairs
            )
        if recovery:
            report["recovery"] = await _recovery(client, store, database, server.address, db_url)
        if postgres is not None:
            from omnihub.bench._saga_peer import kill_dbos

            kill_goals = min(goals, 200)
            report["kill"] = {
                "omnihub": await _kill_burst(
                    client, database, server.address, db_url, kill_goals, steps
                ),
                "dbos": await asyncio.to_thread(
                    kill_dbos,
                    postgres.create_database("dbos_kill"),
                    kill_goals,
                    steps,
                    kill_goals * steps // 3,
                ),
            }
        return report
    finally:
        resources.close()
        store.close()
        server.stop()
        if postgres is not None:
            postgres.stop()


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"100,300,1000"`` as goal counts; a ValidationError for anything else."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ValidationError(f"--sizes {text!r}: give positive goal counts, e.g. 100,300,1000")
    return sizes
