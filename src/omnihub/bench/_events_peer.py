"""The peer in ``omnihub bench events --compare eventsourcing``: the same append and read
workload through the eventsourcing library, on the same database, in the same run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from omnihub.bench._events import TENANT, BenchConfig, _rate, _run_writers, goal_workload

__all__ = ["run_eventsourcing"]


class BenchGoal(Aggregate):
    """A goal as an eventsourcing aggregate: created, then one event per CDM event."""

    @event("Received")
    def __init__(self, data: dict[str, Any]) -> None:
        self.count = 1

    @event("Happened")
    def happen(self, kind: str, data: dict[str, Any]) -> None:
        self.count += 1


def _env(cfg: BenchConfig, url: str, workdir: Path) -> dict[str, str]:
    if cfg.backend == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(workdir / "eventsourcing.db"),
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


def run_eventsourcing(cfg: BenchConfig, url: str, workdir: Path) -> dict[str, Any]:
    """Append ``cfg.events`` events in goals of 12, ``cfg.batch`` per save, from
    ``cfg.writers`` threads; then read them all back as domain events."""
    app: Application[UUID] = Application(env=_env(cfg, url, workdir))
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
    start = time.perf_counter()
    position, read = 1, 0
    while notifications := app.recorder.select_notifications(position, 1000):
        for notification in notifications:
            app.mapper.to_domain_event(notification)
        read += len(notifications)
        position = notifications[-1].id + 1
    read_s = time.perf_counter() - start
    app.close()
    return {
        "library": "eventsourcing",
        "append_events_per_s": _rate(cfg.events, append_s),
        "read_events_per_s": _rate(read, read_s),
    }
