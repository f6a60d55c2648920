"""``omnihub bench events``: append, read, replay and verify throughput, with the storage limit
(a bare INSERT loop of the same shape) and optionally the eventsourcing library, in one run.

Each part runs ``rounds`` times (3), interleaved (ours, the limit, the peer, then again), on
one database — the peer writes its own tables in the same SQLite file or PostgreSQL database —
and every figure is the median of its rounds. Each round writes under a tenant of its own, so
no round reads or deduplicates another's events."""

from __future__ import annotations

import contextlib
import gc
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnihub.errors import ConfigurationError, IntegrityError
from omnihub.events import (
    EventStore,
    GoalCompleted,
    GoalReceived,
    NewEvent,
    PlanGenerated,
    StepCompleted,
    StepStarted,
    ToolExecuted,
    open_event_store,
    verify_store,
)
from omnihub.events._store import COLUMNS
from omnihub.plans import PlanStep

__all__ = ["BenchConfig", "goal_workload", "run_events_benchmark"]

TENANT = "bench"
EVENTS_PER_GOAL = 12


@dataclass(frozen=True)
class BenchConfig:
    backend: str
    events: int
    writers: int
    batch: int = 4
    store_url: str | None = None
    compare: str | None = None
    rounds: int = 3


def goal_workload(goal_no: int) -> list[NewEvent]:
    """One goal's twelve events: received, planned, three steps of three events, completed."""
    goal_id = f"goal-{goal_no}"
    steps = [
        PlanStep(id=f"s{i}", tool=tool, args={"query": f"{goal_id} {tool}", "n": i})
        for i, tool in enumerate(("flights.search", "hotels.search", "calendar.add"), start=1)
    ]
    payloads: list[Any] = [
        GoalReceived(
            goal="Plan a two-day trip to Lyon next month under 600 EUR",
            user_id=f"user-{goal_no % 97}",
            context={"locale": "en-GB", "channel": "api"},
        ),
        PlanGenerated(plan_id=f"plan-{goal_no}", steps=steps, source="cache", reasoning=""),
    ]
    for step in steps:
        payloads += [
            StepStarted(step_id=step.id, tool_name=step.tool),
            ToolExecuted(
                tool_name=step.tool,
                step_id=step.id,
                input=step.args,
                output={"status": 200, "items": [{"id": f"{step.id}-1", "price": 129.5}]},
                duration_ms=41.25,
            ),
            StepCompleted(step_id=step.id, result={"chosen": f"{step.id}-1"}),
        ]
    payloads.append(GoalCompleted(result={"itinerary": [s.id for s in steps]}))
    return [
        NewEvent(payload=payload, idempotency_key=f"{goal_id}:{n}")
        for n, payload in enumerate(payloads)
    ]


def _goals(total: int) -> list[list[NewEvent]]:
    goals = []
    remaining = total
    n = 0
    while remaining > 0:
        events = goal_workload(n)[:remaining]
        goals.append(events)
        remaining -= len(events)
        n += 1
    return goals


def _run_writers(writers: int, work: Callable[[int], None]) -> float:
    """Run ``work(w)`` for w in range(writers) in threads; return the wall time."""
    failures: list[BaseException] = []

    def guarded(w: int) -> None:
        try:
            work(w)
        except BaseException as exc:  # pragma: no cover - re-raised below
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in range(writers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise failures[0]
    return elapsed


def _chunks(events: Sequence[NewEvent], size: int) -> Iterator[Sequence[NewEvent]]:
    for i in range(0, len(events), size):
        yield events[i : i + size]


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def settle() -> None:
    """Start a timed part with no garbage and the collector's counts at zero, after the
    caller dropped the append part's workload: held alive, every full collection walked it
    (a read of 20,000 events ran at 37k ev/s with a 100,000-event workload alive, 84k
    without, measured), and where collections fell depended on the part before. Both the
    store and the peer call this."""
    gc.collect()


def _measure_store(store: EventStore, cfg: BenchConfig, tenant: str) -> dict[str, float]:
    goals = _goals(cfg.events)

    def write(w: int) -> None:
        for g in range(w, len(goals), cfg.writers):
            for chunk in _chunks(goals[g], cfg.batch):
                store.append(tenant, f"goal-{g}", chunk)

    append_s = _run_writers(cfg.writers, write)
    goal_count = len(goals)
    goals.clear()
    settle()

    start = time.perf_counter()
    position, read = 0, 0
    while batch := store.read_all(tenant, position, 1000):
        read += len(batch)
        position = batch[-1].global_position
    read_s = time.perf_counter() - start
    if read != cfg.events:
        raise IntegrityError(f"read {read} events, appended {cfg.events}")

    settle()
    start = time.perf_counter()
    # Every goal's state, many goals per query (tests pin goal_states to goal_state of each,
    # and goal_state, the path GoalService.state takes, to project_goal(read_stream(...))).
    states = store.goal_states(tenant, (f"goal-{g}" for g in range(goal_count)))
    replayed = sum(state.event_count for state in states)
    replay_s = time.perf_counter() - start

    settle()
    start = time.perf_counter()
    report = verify_store(store, tenant)
    verify_s = time.perf_counter() - start
    if not report.ok or report.events != cfg.events:
        raise IntegrityError(f"verification failed: {report}")
    return {
        "append_events_per_s": _rate(cfg.events, append_s),
        "read_events_per_s": _rate(read, read_s),
        "replay_events_per_s": _rate(replayed, replay_s),
        "verify_events_per_s": _rate(report.events, verify_s),
    }


# -- the storage limit: a bare INSERT loop of the same shape ---------------------------------


def _limit_rows(total: int) -> list[tuple[Any, ...]]:
    """Pre-built rows like the store's (same columns and sizes), one stream per 12 events."""
    payload = goal_workload(0)[3].payload.model_dump_json()
    rows = []
    for n in range(total):
        goal, version = divmod(n, EVENTS_PER_GOAL)
        rows.append(
            (
                TENANT,
                f"goal-{goal}",
                version + 1,
                f"01900000-0000-7000-8000-{n:012x}",
                "ToolExecuted",
                2,
                "2026-01-01T00:00:00.000000Z",
                "2026-01-01T00:00:00.000000Z",
                f"goal-{goal}",
                None,
                f"goal-{goal}:{version}",
                payload,
                "0" * 64,
                "f" * 64,
            )
        )
    return rows


def _split(rows: list[tuple[Any, ...]], writers: int, batch: int) -> list[list[list[Any]]]:
    """Per writer, its transactions: whole goals per writer, ``batch`` rows per transaction."""
    goals = [rows[i : i + EVENTS_PER_GOAL] for i in range(0, len(rows), EVENTS_PER_GOAL)]
    plan: list[list[list[Any]]] = [[] for _ in range(writers)]
    for g, goal in enumerate(goals):
        plan[g % writers].extend(goal[i : i + batch] for i in range(0, len(goal), batch))
    return plan


def _sqlite_limit(path: Path, cfg: BenchConfig) -> float:
    from omnihub.events._sqlite import _SCHEMA

    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(_SCHEMA.replace("omnihub_events", "omnihub_limit_events"))
    cols = ", ".join(COLUMNS[1:])
    row = "(" + ", ".join("?" * 14) + ")"
    plan = _split(_limit_rows(cfg.events), cfg.writers, cfg.batch)
    lock = threading.Lock()

    def write(w: int) -> None:
        # The same statement shape as the store: one multi-row INSERT per transaction.
        for txn in plan[w]:
            insert = f"INSERT INTO omnihub_limit_events ({cols}) VALUES " + ", ".join(
                [row] * len(txn)
            )
            with lock:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(insert, [value for values in txn for value in values])
                conn.execute("COMMIT")

    try:
        return _rate(cfg.events, _run_writers(cfg.writers, write))
    finally:
        conn.execute("DROP TABLE omnihub_limit_events")
        conn.close()


def _postgres_limit(url: str, cfg: BenchConfig) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "CREATE TABLE omnihub_limit_events (LIKE omnihub_events INCLUDING ALL);"
            "CREATE SEQUENCE omnihub_limit_seq;"
            "ALTER TABLE omnihub_limit_events ALTER COLUMN global_position "
            "SET DEFAULT nextval('omnihub_limit_seq')"
        )
    cols = ", ".join(COLUMNS[1:])
    insert = f"INSERT INTO omnihub_limit_events ({cols}) VALUES ({', '.join(['%s'] * 14)})"
    plan = _split(_limit_rows(cfg.events), cfg.writers, cfg.batch)
    conns = [psycopg.connect(url) for _ in range(cfg.writers)]

    def write(w: int) -> None:
        conn = conns[w]
        for txn in plan[w]:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(insert, txn)

    try:
        return _rate(cfg.events, _run_writers(cfg.writers, write))
    finally:
        for conn in conns:
            conn.close()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("DROP TABLE omnihub_limit_events; DROP SEQUENCE omnihub_limit_seq")


def _storage_bytes(store_url: str) -> int:
    if store_url.startswith("sqlite"):
        from omnihub.events._sqlite import sqlite_path

        with contextlib.closing(sqlite3.connect(sqlite_path(store_url))) as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int(pages * size)
    import psycopg

    with psycopg.connect(store_url) as conn:
        row = conn.execute("SELECT pg_total_relation_size('omnihub_events')").fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def _database(cfg: BenchConfig, workdir: Path) -> Iterator[str]:
    """The URL to benchmark on: given, a new SQLite file, or a new embedded PostgreSQL."""
    if cfg.store_url:
        yield cfg.store_url
    elif cfg.backend == "sqlite":
        yield f"sqlite:///{workdir / 'events.db'}"
    else:
        from omnihub.servers import EmbeddedPostgres

        # A private runtime directory (mode 0700), so platformdirs has nothing to warn about.
        runtime = workdir / "runtime"
        runtime.mkdir(mode=0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        with EmbeddedPostgres(workdir / "pgdata") as server:
            yield server.create_database("omnihub_bench")


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def _limit(url: str, cfg: BenchConfig) -> float:
    if cfg.backend == "sqlite":
        from omnihub.events._sqlite import sqlite_path

        return _sqlite_limit(sqlite_path(url), cfg)
    return _postgres_limit(url, cfg)


def run_events_benchmark(cfg: BenchConfig) -> dict[str, Any]:
    """Run the whole benchmark once and return the JSON-ready result."""
    if cfg.backend not in {"sqlite", "postgres"}:
        raise ConfigurationError(f"unknown backend {cfg.backend!r}: use sqlite or postgres")
    if cfg.events < 1 or cfg.writers < 1 or cfg.batch < 1 or cfg.rounds < 1:
        raise ConfigurationError("--events, --writers and --batch must be positive")
    if cfg.compare not in {None, "eventsourcing"}:
        raise ConfigurationError(f"unknown peer {cfg.compare!r}: use eventsourcing")
    with (
        tempfile.TemporaryDirectory(prefix="omnihub-bench-") as tmp,
        _database(cfg, Path(tmp)) as url,
    ):
        expected = "sqlite" if cfg.backend == "sqlite" else "postgres"
        if not url.startswith(expected):
            raise ConfigurationError(f"--store-url {url!r} is not a {cfg.backend} URL")
        runs: list[dict[str, float]] = []
        limits: list[float] = []
        peers: list[dict[str, Any]] = []
        bytes_per_event = 0.0
        with open_event_store(url) as store:
            for round_no in range(cfg.rounds):
                runs.append(_measure_store(store, cfg, f"{TENANT}-{round_no}"))
                if round_no == 0:  # before the peer's tables share the file
                    bytes_per_event = round(_storage_bytes(url) / cfg.events, 1)
                limits.append(_limit(url, cfg))
                if cfg.compare == "eventsourcing":
                    # The peer imports eventsourcing, a dev-only dependency: only when asked.
                    from omnihub.bench._events_peer import run_eventsourcing

                    peers.append(run_eventsourcing(cfg, url))
        ours = _median(runs)
        result: dict[str, Any] = {
            "backend": cfg.backend,
            "events": cfg.events,
            "writers": cfg.writers,
            "batch": cfg.batch,
            "rounds": cfg.rounds,
            **ours,
            "bytes_per_event": bytes_per_event,
            "limit_append_events_per_s": statistics.median(limits),
        }
        result["durability"] = (
            "sqlite WAL, synchronous=FULL"
            if cfg.backend == "sqlite"
            else "postgresql synchronous_commit=on"
        )
        if peers:
            peer = {
                "library": "eventsourcing",
                "same_database": True,
                "durability": peers[0]["durability"],
                **_median([{k: v for k, v in p.items() if k.endswith("_per_s")} for p in peers]),
            }
            result["peer"] = peer
            result["ratio"] = {
                key: round(ours[key] / peer[key], 2) for key in peer if key.endswith("_per_s")
            }
        result["cpus"] = os.cpu_count()
    return result
