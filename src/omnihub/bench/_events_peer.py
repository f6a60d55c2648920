"""The peer in ``omnihub bench events --compare eventsourcing``: the same append and read
workload through the eventsourcing library, on the same database, in the same run."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from omnihub.bench._events import TENANT, BenchConfig, _rate, _run_writers, goal_workload, settle
from omnihub.errors import IntegrityError

__all__ = ["run_eventsourcing"]


class BenchGoal(Aggregate):
    """A goal as an eventsourcing aggregate: created, then one event per CDM event."""

    @event("Received")
    def __init__(self, data: dict[str, Any]) -> None:
        self.count = 1

    @event("Happened")
    def happen(self, kind: str, data: dict[str, Any]) -> None:
        self.count += 1


def _env(cfg: BenchConfig, url: str) -> dict[str, str]:
    """The peer's settings for the very database the store was measured on."""
    if cfg.backend == "sqlite":
        from omnihub.events._sqlite import sqlite_path

        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(sqlite_path(url)),
        }
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname", "postgres")),
        "POSTGRES_HOST": str(info.get("host", "localhost")),
        "POSTGRES_PORT": str(info.get("port", "5432")),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_POOL_SIZE": str(cfg.writers),
    }


def _durability(cfg: BenchConfig, url: str) -> str:
    """The durability the peer ran with, read from the database (the library sets WAL on
    SQLite and leaves ``synchronous`` and ``synchronous_commit`` at their defaults)."""
    if cfg.backend == "sqlite":
        from omnihub.events._sqlite import sqlite_path

        with contextlib.closing(sqlite3.connect(sqlite_path(url))) as conn:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            level = conn.execute("PRAGMA synchronous").fetchone()[0]
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return f"sqlite {str(mode).upper()}, synchronous={names.get(int(level), level)}"
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW synchronous_commit").fetchone()
    return f"postgresql synchronous_commit={row[0] if row else 'unknown'}"


def run_eventsourcing(cfg: BenchConfig, url: str) -> dict[str, Any]:
    """Append ``cfg.events`` events in goals of 12, ``cfg.batch`` per save, from
    ``cfg.writers`` threads, into the store's own database; then read back, as domain events,
    every notification this call appended."""
    app: Application[UUID] = Application(env=_env(cfg, url))
    first = (app.recorder.max_notification_id() or 0) + 1
    goals = []
    remaining, n = cfg.events, 0
    while remaining > 0:
        dumped = [e.payload.model_dump(mode="json") for e in goal_workload(n)][:remaining]
        goals.append(dumped)
        remaining -= len(dumped)
        n += 1

    def write(w: int) -> None:
        for g in range(w, len(goals), cfg.writers):
            payloads = goals[g]
            aggregate = BenchGoal(payloads[0])
            pending = 1
            for data in payloads[1:]:
                if pending == cfg.batch:
                    app.save(aggregate)
                    pending = 0
                aggregate.happen(kind=TENANT, data=data)
                pending += 1
            app.save(aggregate)

    append_s = _run_writers(cfg.writers, write)
    goals.clear()
    settle()
    start = time.perf_counter()
    position, read = first, 0
    to_domain_event = app.mapper.to_domain_event
    while notifications := app.recorder.select_notifications(position, 1000):
        # Kept as a list, as read_all returns its envelopes: events dropped one by one die
        # young, never reach the collector's older generations, and so skipped the full
        # collections a reader that keeps its batch pays (the read compared unlike work).
        events = [to_domain_event(notification) for notification in notifications]
        read += len(events)
        position = notifications[-1].id + 1
    read_s = time.perf_counter() - start
    app.close()
    if read != cfg.events:
        raise IntegrityError(f"the peer read {read} events, appended {cfg.events}")
    return {
        "library": "eventsourcing",
        "durability": _durability(cfg, url),
        "append_events_per_s": _rate(cfg.events, append_s),
        "read_events_per_s": _rate(read, read_s),
    }
