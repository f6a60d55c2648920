"""``omnihub chaos``: N goals on real servers and worker processes while faults are injected,
then the invariant checker on the store and a count of the sinks' effects.

The driver tails the event store (as any subscriber would) to decide approvals, cancel goals
mid-plan, time recoveries and see goals end; it kills processes with SIGKILL at the points
the seed's schedule names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from temporalio.client import Client

from omnihub.audit import TemporalWorkflows, check_deployment
from omnihub.chaos._schedule import PHASE_GOALS, GoalPlan, Kill, Schedule, make_schedule
from omnihub.chaos._sinks import HttpSink, SmtpSink
from omnihub.chaos._tools import (
    EFFECTS_TABLE,
    LOG_TABLE,
    chaos_tools,
    create_tables,
    playbook_dir,
)
from omnihub.crypto import KeyRing, encrypted_data_converter
from omnihub.errors import OmniHubError, StoreError, StoreUnavailableError, ValidationError
from omnihub.events import EventStore, open_event_store
from omnihub.guard import PolicyStore, defaults_permitting
from omnihub.saga import ApprovalDecision, ControlRequest, SagaClient, SagaOptions
from omnihub.servers import EmbeddedPostgres, EmbeddedRedis, EmbeddedTemporal
from omnihub.tools import IdempotencyLedger, SqlDatabase, open_database

TENANT = "chaos"
QUEUE = "chaos"
_STEP_EVENTS = {
    "StepStarted",
    "StepCompleted",
    "StepFailed",
    "CompensationExecuted",
    "CompensationFailed",
}
_TERMINAL = {"GoalCompleted": "completed", "GoalFailed": "failed", "GoalCancelled": "cancelled"}
_RPC_TIMEOUT = timedelta(seconds=30)
# How long a targeted worker kill waits for its moment before it takes any worker.
_TARGET_WAIT_S = 30.0
# How long the driver's own reads wait for a restarting PostgreSQL.
_DB_WAIT_S = 60.0
# How long the Redis kill waits for planner-made goals to plan before (and while) it is down.
_PHASE_WAIT_S = 60.0
_T = TypeVar("_T")


@dataclass(frozen=True)
class ChaosOptions:
    goals: int
    workers: int = 3
    fault_rate: float = 0.1
    kill_workers: int = 0
    kill_temporal: int = 0
    restart_postgres: int = 0
    kill_redis: int = 0
    store: Literal["sqlite", "postgres"] = "sqlite"
    seed: int = 0
    concurrency: int = 24
    deadline_s: float | None = None


@dataclass
class _Goal:
    plan: GoalPlan
    events: list[tuple[str, float, str | None]] = field(default_factory=list)
    status: str | None = None
    rejected: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    # Where its plan came from (PlanGenerated's source): planner-made goals' cache outcome.
    source: str | None = None


@dataclass
class _KillRecord:
    kind: str
    at: float
    affected: list[str]


class _Workers:
    """``omnihub worker`` processes with the chaos tools, replaced when killed."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._started = 0

    def spawn(self) -> subprocess.Popen[bytes]:
        self._started += 1
        log = (self.log_dir / f"worker-{self._started}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "omnihub", "worker", "--tools", "omnihub.chaos:chaos_tools"],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )
        log.close()
        self.procs.append(proc)
        return proc

    @staticmethod
    def wait_ready(proc: subprocess.Popen[bytes]) -> bool:
        assert proc.stdout is not None
        return bool(proc.stdout.readline())

    def pids(self) -> set[int]:
        return {p.pid for p in self.procs if p.poll() is None}

    def kill(self, pid: int) -> None:
        for proc in self.procs:
            if proc.pid == pid and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


class ChaosRun:
    """One run: servers, sinks, workers, the goals and the faults."""

    def __init__(self, options: ChaosOptions, work_dir: Path) -> None:
        self.options = options
        self.work_dir = work_dir
        self.goals: dict[str, _Goal] = {}
        self.kills: list[_KillRecord] = []
        self.faults: Counter[str] = Counter()
        self.ended = 0
        self.done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._window = 0
        self._thresholds: list[int] = []
        self._fired: list[asyncio.Event] = []
        # The first Redis kill: down (planner-made "during" goals may plan), back up.
        self._redis_down = asyncio.Event()
        self._redis_up = asyncio.Event()

    # -- helpers ---------------------------------------------------------------------------

    def _background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _db(self, call: Callable[..., _T], *args: Any) -> _T:
        """Run a sync database call in a thread, again while PostgreSQL restarts: a pool's
        connections from before an immediate restart fail once each, then new ones work."""
        delay = 0.2
        deadline = time.monotonic() + _DB_WAIT_S
        while True:
            try:
                return await asyncio.to_thread(call, *args)
            except StoreUnavailableError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _retrying(self, call: Any) -> Any:
        """Call Temporal until it answers (it may be down for a restart)."""
        delay = 0.2
        while True:
            try:
                return await call()
            except (OmniHubError, RuntimeError) as exc:
                if isinstance(exc, ValidationError):
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception:  # RPC errors while the server restarts
                if self.done.is_set():
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    # -- watching the store ----------------------------------------------------------------

    async def _tail(self, store: EventStore, sagas: SagaClient) -> None:
        position = 0
        while not self.done.is_set():
            try:
                events = await asyncio.to_thread(store.read_all, TENANT, position, 2000)
            except StoreError:  # PostgreSQL restarting: read again in a moment
                await asyncio.sleep(0.5)
                continue
            for event in events:
                position = event.global_position
                goal = self.goals.get(event.stream_id)
                if goal is None:
                    continue
                step = getattr(event.payload, "step_id", None)
                if event.event_type == "PlanGenerated":
                    goal.source = str(getattr(event.payload, "source", ""))
                goal.events.append((event.event_type, event.recorded_at.timestamp(), step))
                self._react(goal, event.event_type, step, sagas)
            if not events:
                await asyncio.sleep(0.2)

    def _react(self, goal: _Goal, event_type: str, step: str | None, sagas: SagaClient) -> None:
        gid = goal.plan.goal_id
        if event_type == "ApprovalRequested" and step is not None:
            approve = goal.plan.kind != "reject"
            decision = ApprovalDecision(
                step_id=step, approved=approve, decided_by="chaos", reason=goal.plan.kind
            )
            self._background(self._decide(sagas, gid, decision))
        elif event_type == "ApprovalRejected":
            goal.rejected = True
        elif event_type == "StepCompleted" and step == goal.plan.cancel_after:
            request = ControlRequest(by="chaos", reason="cancelled mid-plan")
            self._background(self._cancel(sagas, gid, request))
        elif event_type in _TERMINAL and goal.status is None:
            goal.status = _TERMINAL[event_type]
            self.ended += 1
            goal.ended.set()

    async def _cancel(self, sagas: SagaClient, goal_id: str, request: ControlRequest) -> None:
        with contextlib.suppress(ValidationError):  # it ended before the signal
            await self._retrying(lambda: sagas.cancel(goal_id, request))

    async def _decide(self, sagas: SagaClient, goal_id: str, decision: ApprovalDecision) -> None:
        with contextlib.suppress(ValidationError):  # decided already before a restart
            await self._retrying(lambda: sagas.decide(goal_id, decision))

    # -- goals -----------------------------------------------------------------------------

    def _plan_kills(self, schedule: Schedule) -> None:
        """When each kill fires (goals ended) and which goals wait for it: a kill fires after
        ``threshold`` goals ended, and goals from ``threshold + window`` on start only when it
        fires, so that every kill lands while goals run and leaves goals to recover, however
        fast the goals before it end (and however small the run)."""
        total = len(schedule.goals)
        self._window = max(PHASE_GOALS, min(self.options.concurrency, total // 5))
        latest = max(0, total - 2 * self._window)
        self._thresholds = [min(int(k.at_progress * total), latest) for k in schedule.kills]
        self._fired = [asyncio.Event() for _ in schedule.kills]

    async def _after_kills(self, index: int) -> None:
        for threshold, fired in zip(self._thresholds, self._fired, strict=True):
            if threshold + self._window <= index:
                await fired.wait()

    async def _until(self, ready: Callable[[], bool], cap_s: float = _PHASE_WAIT_S) -> None:
        deadline = time.monotonic() + cap_s
        # Conditions on what the tail records; polling them is simplest.
        while not ready() and time.monotonic() < deadline and not self.done.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    def _phase(self, phase: str) -> list[_Goal]:
        return [g for g in self.goals.values() if g.plan.cache_phase == phase]

    async def _in_phase(self, goal: _Goal) -> None:
        """Hold a planner-made goal until its phase of the Redis kill, and until the goal
        before it in that phase has planned: a hit needs a plan stored first."""
        phase = goal.plan.cache_phase
        if phase == "during":
            await self._redis_down.wait()
        elif phase == "after":
            await self._redis_up.wait()
        earlier = [g for g in self._phase(str(phase)) if g.plan.index < goal.plan.index]
        if earlier:
            await self._until(lambda: earlier[-1].source is not None)

    async def _run_goal(self, sagas: SagaClient, goal: _Goal, slots: asyncio.Semaphore) -> None:
        # Planner-made goals keep their own order around the Redis kill, not the kills'.
        if goal.plan.cache_phase is None:
            await self._after_kills(goal.plan.index)
        else:
            await self._in_phase(goal)
        async with slots:
            plan = goal.plan

            async def start() -> None:
                # "exists already": an earlier try started it before its answer was lost.
                with contextlib.suppress(ValidationError):
                    await sagas.start(plan.text, plan.plan, goal_id=plan.goal_id)

            await self._retrying(start)
            await goal.ended.wait()

    # -- faults ----------------------------------------------------------------------------

    def _in_flight(self, database: SqlDatabase, tool: str, phase: str) -> list[tuple[str, int]]:
        """(goal, pid) of chaos steps that committed in the last moment and have not ended."""
        since = time.time() - 0.6
        with database.transaction() as cursor:
            cursor.execute(
                f"SELECT goal, step, pid FROM {LOG_TABLE} WHERE tool = ? AND phase = ? AND at > ?",
                (tool, phase, since),
            )
            rows = cursor.fetchall()
        done = "StepCompleted" if tool == "chaos_reserve" else "CompensationExecuted"
        found = []
        for row in rows:
            goal = self.goals.get(str(row["goal"]))
            if goal is None or any(t == done and s == row["step"] for t, _, s in goal.events):
                continue
            found.append((str(row["goal"]), int(row["pid"])))
        return found

    def _affected_by_pid(self, database: SqlDatabase, pid: int) -> list[str]:
        with database.transaction() as cursor:
            cursor.execute(f"SELECT DISTINCT goal FROM {LOG_TABLE} WHERE pid = ?", (pid,))
            goals = [str(r["goal"]) for r in cursor.fetchall()]
        return [g for g in goals if g in self.goals and self.goals[g].status is None]

    async def _kill_worker(
        self, kill: Kill, workers: _Workers, database: SqlDatabase, rng: random.Random
    ) -> None:
        target = kill.target
        pid = None
        if target != "random":
            tool, phase = (
                ("chaos_reserve", "committed")
                if target == "after_commit"
                else ("chaos_release", "began")
            )
            deadline = time.monotonic() + _TARGET_WAIT_S
            while pid is None and time.monotonic() < deadline:
                live = workers.pids()
                try:
                    flying = await asyncio.to_thread(self._in_flight, database, tool, phase)
                except StoreUnavailableError:
                    flying = []
                hits = [(g, p) for g, p in flying if p in live]
                if hits:
                    pid = rng.choice(sorted(hits))[1]
                else:
                    await asyncio.sleep(0.05)
            if pid is None:
                target = "random"
        if pid is None:
            pid = rng.choice(sorted(workers.pids()))
        affected = await self._db(self._affected_by_pid, database, pid)
        workers.kill(pid)
        self.kills.append(_KillRecord("worker", time.time(), affected))
        self.faults[f"worker_kill_{target}"] += 1
        replacement = workers.spawn()
        self._background(asyncio.to_thread(workers.wait_ready, replacement))

    def _running_goals(self) -> list[str]:
        return [
            gid
            for gid, g in self.goals.items()
            if g.status is None and g.events and g.events[-1][0] != "ApprovalRequested"
        ]

    async def _inject(
        self,
        schedule: Schedule,
        workers: _Workers,
        database: SqlDatabase,
        temporal: EmbeddedTemporal,
        postgres: EmbeddedPostgres | None,
        redis: EmbeddedRedis | None,
    ) -> None:
        rng = random.Random(schedule.seed + 1)
        for kill, threshold, fired in zip(
            schedule.kills, self._thresholds, self._fired, strict=True
        ):
            # Progress is a count the tail updates; polling it is simplest.
            while self.ended < threshold and not self.done.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            if self.done.is_set():
                return
            # The goals held back start now, so they run while the kill lands (a targeted
            # worker kill needs steps in flight to aim at).
            fired.set()
            await self._fire(kill, workers, database, temporal, postgres, redis, rng)

    async def _fire(
        self,
        kill: Kill,
        workers: _Workers,
        database: SqlDatabase,
        temporal: EmbeddedTemporal,
        postgres: EmbeddedPostgres | None,
        redis: EmbeddedRedis | None,
        rng: random.Random,
    ) -> None:
        if kill.kind == "worker":
            await self._kill_worker(kill, workers, database, rng)
        elif kill.kind == "temporal":
            affected = self._running_goals()
            await asyncio.to_thread(temporal.stop, kill=True)
            self.kills.append(_KillRecord("temporal", time.time(), affected))
            self.faults["temporal_kill"] += 1
            await asyncio.to_thread(temporal.start)
        elif kill.kind == "postgres" and postgres is not None:
            affected = self._running_goals()
            self.kills.append(_KillRecord("postgres", time.time(), affected))
            await asyncio.to_thread(postgres.restart_immediate)
            self.faults["postgres_restart"] += 1
        elif kill.kind == "redis" and redis is not None:
            first = not self._redis_down.is_set()
            if first:  # the cache has served hits before it goes
                await self._until(lambda: all(g.source for g in self._phase("before")))
            affected = self._running_goals()
            await asyncio.to_thread(redis.stop, kill=True)
            self.kills.append(_KillRecord("redis", time.time(), affected))
            self.faults["redis_kill"] += 1
            if first:  # lookups while it is down
                self._redis_down.set()
                await self._until(lambda: all(g.source for g in self._phase("during")))
            else:
                await asyncio.sleep(1.0)
            await asyncio.to_thread(redis.start)
            self._redis_up.set()

    # -- results ---------------------------------------------------------------------------

    def _recoveries(self) -> dict[str, list[float]]:
        """Per kill kind: for each affected goal, seconds from the kill to its next step."""
        out: dict[str, list[float]] = defaultdict(list)
        for kill in self.kills:
            for gid in kill.affected:
                later = [
                    at - kill.at
                    for kind, at, _ in self.goals[gid].events
                    if kind in _STEP_EVENTS and at > kill.at
                ]
                if later:
                    out[kill.kind].append(min(later))
        return out

    def _sink_counts(self, database: SqlDatabase, http: HttpSink, smtp: SmtpSink) -> dict[str, int]:
        """Effects at the sinks against the store: twice, orphaned, or not undone."""
        with database.transaction() as cursor:
            cursor.execute(f"SELECT goal, step, tool FROM {EFFECTS_TABLE}")
            rows = cursor.fetchall()
        db_effects = Counter((str(r["goal"]), str(r["step"])) for r in rows)
        duplicates = orphans = missing = 0
        for (gid, step), n in db_effects.items():
            duplicates += n - 1
            goal = self.goals.get(gid)
            completed = goal is not None and any(
                t == "StepCompleted" and s == step for t, _, s in goal.events
            )
            if not completed:
                orphans += 1
            elif goal is not None and goal.status in ("failed", "cancelled"):
                missing += 1  # every database effect in a chaos plan has an undo
        for sink in (http.log, smtp.log):
            for (gid, step), n in sink.effects().items():
                duplicates += n - 1
                goal = self.goals.get(gid)
                if goal is None or not any(
                    t == "StepCompleted" and s == step for t, _, s in goal.events
                ):
                    orphans += 1
        return {
            "duplicates": duplicates,
            "orphans": orphans,
            "missing": missing,
            "redelivered": http.log.redelivered() + smtp.log.redelivered(),
        }

    def _tool_faults(self, database: SqlDatabase) -> Counter[str]:
        with database.transaction() as cursor:
            # A parameter, not a literal: psycopg reads a '%' in the text as a placeholder.
            cursor.execute(
                f"SELECT DISTINCT goal, step, phase FROM {LOG_TABLE} WHERE phase LIKE ?",
                ("fault:%",),
            )
            return Counter(str(r["phase"]).removeprefix("fault:") for r in cursor.fetchall())

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        options = self.options
        began = time.monotonic()
        work = self.work_dir
        (work / "logs").mkdir(parents=True, exist_ok=True)
        temporal = EmbeddedTemporal(work / "temporal")
        postgres = EmbeddedPostgres(work / "pgdata") if options.store == "postgres" else None
        redis = EmbeddedRedis(work / "redis") if options.kill_redis else None
        http, smtp = HttpSink().start(), SmtpSink().start()
        workers: _Workers | None = None
        store: EventStore | None = None
        database: SqlDatabase | None = None
        try:
            await asyncio.to_thread(temporal.start)
            if postgres is not None:
                await asyncio.to_thread(postgres.start)
                url = await asyncio.to_thread(postgres.create_database, "chaos")
            else:
                url = f"sqlite:///{work / 'events.db'}"
            if redis is not None:
                await asyncio.to_thread(redis.start)
            store = open_event_store(url)
            database = open_database(url)
            with database.transaction() as cursor:
                create_tables(cursor)
            IdempotencyLedger(database).ensure_schema()
            # Policy fails closed: the tenant's set must permit the chaos tools' side effects.
            permits = defaults_permitting(spec.name for spec in chaos_tools())
            PolicyStore(store).apply(TENANT, permits.text, applied_by="chaos", reason="chaos run")
            schedule = make_schedule(
                options.seed,
                options.goals,
                fault_rate=options.fault_rate,
                http_url=http.url,
                kill_workers=options.kill_workers,
                kill_temporal=options.kill_temporal,
                restart_postgres=options.restart_postgres if postgres else 0,
                kill_redis=options.kill_redis,
            )
            self.goals = {g.goal_id: _Goal(g) for g in schedule.goals}
            self._plan_kills(schedule)
            # Workers and this driver encrypt Temporal payloads with one shared ring.
            ring = KeyRing.generate()
            env = {
                **os.environ,
                "OMNIHUB_CODEC_KEYS": ",".join(ring.dumps().split()),
                "OMNIHUB_HOME": str(work / "home"),
                "OMNIHUB_TEMPORAL_ADDRESS": temporal.address,
                "OMNIHUB_EVENT_STORE_URL": url,
                "OMNIHUB_TASK_QUEUE": QUEUE,
                "OMNIHUB_TOOLS_ALLOWED_TABLES": json.dumps([EFFECTS_TABLE]),
                "OMNIHUB_HTTP_ALLOWED_HOSTS": json.dumps(["127.0.0.1"]),
                "OMNIHUB_SMTP_HOST": smtp.host,
                "OMNIHUB_SMTP_PORT": str(smtp.port),
            }
            if redis is not None:
                # Planner-made goals: the playbook planner behind the plan cache on Redis.
                env |= {
                    "OMNIHUB_CACHE_URL": redis.url,
                    "OMNIHUB_PLANNER": "playbook",
                    "OMNIHUB_PLAYBOOK_DIRS": json.dumps([str(playbook_dir())]),
                    "OMNIHUB_PLAYBOOK_DEFAULTS": "false",
                }
            workers = _Workers(env, work / "logs")
            procs = [workers.spawn() for _ in range(options.workers)]
            await asyncio.gather(*(asyncio.to_thread(workers.wait_ready, p) for p in procs))
            client = await Client.connect(
                temporal.address, data_converter=encrypted_data_converter(ring)
            )
            sagas = SagaClient(
                client,
                task_queue=QUEUE,
                tenant_id=TENANT,
                options=SagaOptions(approval_timeout_s=3600),
                rpc_timeout=_RPC_TIMEOUT,
            )
            run_began = time.monotonic()
            tail = asyncio.create_task(self._tail(store, sagas))
            inject = asyncio.create_task(
                self._inject(schedule, workers, database, temporal, postgres, redis)
            )
            slots = asyncio.Semaphore(options.concurrency)
            deadline = options.deadline_s or max(120.0, options.goals * 3.0)
            runs = asyncio.gather(*(self._run_goal(sagas, g, slots) for g in self.goals.values()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(runs), deadline)
            # Goals still running at the deadline are stuck; the checker is asked about them.
            inject.cancel()
            await asyncio.sleep(0.5)  # the tail sees the last events
            self.done.set()
            runs.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runs
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await inject
            await tail
            duration = time.monotonic() - run_began
            workers.stop()
            # The checker reads as an operator would after an incident: through connections
            # of its own, not the driver's pools that lived through a PostgreSQL restart.
            store.close()
            database.close()
            store = await self._db(open_event_store, url)
            database = await self._db(open_database, url)
            audit = await check_deployment(
                store, database, tenant_id=TENANT, workflows=TemporalWorkflows(client)
            )
            sinks = await self._db(self._sink_counts, database, http, smtp)
            self.faults.update(await self._db(self._tool_faults, database))
            return self._report(audit, sinks, duration, time.monotonic() - began)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if workers is not None:
                workers.stop()
            if store is not None:
                store.close()
            if database is not None:
                database.close()
            http.stop()
            smtp.stop()
            temporal.stop()
            if redis is not None:
                redis.stop()
            if postgres is not None:
                postgres.stop()

    def _cache_report(self) -> dict[str, int] | None:
        """Planner-made goals' plan sources around the first Redis kill (None without)."""
        phases = {p: self._phase(p) for p in ("before", "during", "after")}
        if not any(phases.values()):
            return None

        def hits(goals: list[_Goal]) -> int:
            return sum(1 for g in goals if g.source == "cache")

        return {
            "hits_before": hits(phases["before"]),
            "misses_during": sum(1 for g in phases["during"] if g.source not in (None, "cache")),
            "hits_after": hits(phases["after"]),
            "planned_before": len(phases["before"]),
            "planned_during": len(phases["during"]),
            "planned_after": len(phases["after"]),
        }

    def _report(
        self, audit: Any, sinks: dict[str, int], duration: float, total: float
    ) -> dict[str, Any]:
        statuses = Counter(g.status for g in self.goals.values())
        rejected = sum(1 for g in self.goals.values() if g.rejected)
        recoveries = self._recoveries()
        worker = recoveries.get("worker", [])

        def stats(values: list[float]) -> dict[str, float | None]:
            if not values:
                return {"p50": None, "max": None}
            ordered = sorted(values)
            return {"p50": round(ordered[len(ordered) // 2], 2), "max": round(ordered[-1], 2)}

        return {
            "goals": len(self.goals),
            "terminal": sum(n for s, n in statuses.items() if s is not None),
            "completed": statuses.get("completed", 0),
            "compensated": statuses.get("failed", 0) - rejected,
            "cancelled": statuses.get("cancelled", 0),
            "rejected": rejected,
            "stuck": statuses.get(None, 0),
            "duplicate_effects": sinks["duplicates"]
            + audit.count("ledger_duplicate")
            + audit.count("single_completion")
            + audit.count("compensated_once"),
            "orphan_effects": sinks["orphans"] + audit.count("orphan_effect"),
            "missing_compensations": sinks["missing"]
            + audit.count("missing_compensation")
            + audit.count("compensation_failed"),
            "lifo_violations": audit.count("lifo"),
            "chain_intact": audit.chain_intact,
            "faults": dict(sorted(self.faults.items())),
            "recovery_s": stats(worker),
            "recovery_by_kind_s": {k: stats(v) for k, v in sorted(recoveries.items())},
            "redelivered_requests": sinks["redelivered"],
            "cache": self._cache_report(),
            "audit": {
                "ok": audit.ok,
                "first_violation": audit.to_json()["first_violation"],
                "violations": audit.to_json()["violations"],
            },
            "duration_s": round(duration, 2),
            "total_s": round(total, 2),
            "seed": self.options.seed,
        }


async def run_chaos(options: ChaosOptions, work_dir: Path) -> dict[str, Any]:
    """Run the chaos suite in ``work_dir``; the JSON-ready result."""
    return await ChaosRun(options, work_dir).run()
