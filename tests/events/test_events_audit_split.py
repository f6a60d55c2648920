"""`audit verify` split across processes reports exactly what one scan does, whatever was
tampered with and wherever the range boundaries fall."""

from __future__ import annotations

import functools
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from omnihub.events import EventStore, NewEvent, StepStarted, VerifyReport, verify_store
from omnihub.events._audit import _check_tenant, _ranges, _report
from omnihub.events._sqlite import SQLiteEventStore, sqlite_path

STREAMS, VERSIONS = 8, 6


def in_a_fresh_process(test: Callable[..., None]) -> Callable[..., None]:
    """Run ``test`` where the split can fork: a process with one thread. By the time the
    whole suite reaches this module, its process holds threads of earlier tests (exporters,
    clients), and verify rightly refuses to fork then; the test then runs again, alone, in a
    new interpreter (its own basetemp, so pytest's shared temporary root is left alone)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        if threading.active_count() == 1:
            test(*args, **kwargs)
            return
        node = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0]
        with tempfile.TemporaryDirectory(prefix="omnihub-split-") as basetemp:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            run = subprocess.run(
                [*command, "--basetemp", f"{basetemp}/bt", node],
                capture_output=True,
                text=True,
                timeout=110,
            )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert "\n1 passed" in f"\n{run.stdout}", run.stdout[-2000:]  # it ran, alone

    return wrapper


def fill(store: EventStore) -> None:
    """Streams appended round by round, so every stream has events in every range."""
    for version in range(1, VERSIONS + 1):
        for n in range(STREAMS):
            store.append(
                "acme",
                f"s-{n}",
                [NewEvent(payload=StepStarted(step_id=f"v{version}", tool_name="t"))],
            )
    store.append("globex", "other", [NewEvent(payload=StepStarted(step_id="x", tool_name="t"))])


def split(store: EventStore, processes: int) -> VerifyReport:
    assert isinstance(store, SQLiteEventStore)
    # The split really happens (no other thread in this process keeps it from forking).
    assert len(_ranges(store, "acme", processes, 1)) == processes
    return _report([_check_tenant(store, "acme", processes, min_part=1)])


def tamper(store_url: str, sql: str, params: tuple[object, ...]) -> None:
    with sqlite3.connect(sqlite_path(store_url)) as conn:
        assert conn.execute(sql, params).rowcount == 1


TAMPERS = {
    "payload": ("UPDATE omnihub_events SET payload = '{}' WHERE {where}", ()),
    "hash": ("UPDATE omnihub_events SET hash = ? WHERE {where}", ("0" * 64,)),
    "prev_hash": ("UPDATE omnihub_events SET prev_hash = ? WHERE {where}", ("f" * 64,)),
    "deleted": ("DELETE FROM omnihub_events WHERE {where}", ()),
    "version": ("UPDATE omnihub_events SET stream_version = 'x' WHERE {where}", ()),
}


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("kind", sorted(TAMPERS))
@pytest.mark.parametrize("version", range(1, VERSIONS + 1))
@in_a_fresh_process
def test_a_split_scan_reports_what_one_scan_reports(
    store: EventStore, store_url: str, kind: str, version: int
) -> None:
    fill(store)
    sql, params = TAMPERS[kind]
    where = "tenant_id = 'acme' AND stream_id = 's-3' AND stream_version = ?"
    tamper(store_url, sql.replace("{where}", where), (*params, version))
    # A second break, in another stream and range, and a later one in the same stream.
    tamper(
        store_url,
        "UPDATE omnihub_events SET hash = ? WHERE stream_id = 's-6' AND stream_version = 2",
        ("1" * 64,),
    )
    if version < VERSIONS:
        tamper(
            store_url,
            "UPDATE omnihub_events SET payload = '[]' "
            "WHERE stream_id = 's-3' AND stream_version = ?",
            (VERSIONS,),
        )
    one = verify_store(store, "acme")
    assert one.first_break is not None
    for processes in (2, 3, 4, 7):
        assert split(store, processes) == one, processes


@pytest.mark.parametrize("backend", ["sqlite"])
@in_a_fresh_process
def test_an_intact_store_split_across_processes_verifies(store: EventStore) -> None:
    fill(store)
    one = verify_store(store)
    assert one.ok
    assert (one.events, one.streams) == (STREAMS * VERSIONS + 1, STREAMS + 1)
    for processes in (2, 5, 48, 100):
        assert split(store, min(processes, STREAMS * VERSIONS)) == verify_store(store, "acme")
    # The public door: too few events for a second process, so one scan, same report.
    assert verify_store(store, processes=2) == one


@pytest.mark.parametrize("backend", ["sqlite"])
@in_a_fresh_process
def test_a_split_scan_while_another_process_appends_sees_one_intact_snapshot(
    store: EventStore, store_url: str
) -> None:
    fill(store)
    event = NewEvent(payload=StepStarted(step_id="a", tool_name="t"))
    for n in range(200):
        store.append("acme", f"more-{n}", [event])
    before = verify_store(store, "acme")
    # A writer in another process appends all through the scans.
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from omnihub.events import NewEvent, StepStarted, open_event_store\n"
            "with open_event_store(sys.argv[1]) as store:\n"
            "    for n in range(100_000):\n"
            "        event = NewEvent(payload=StepStarted(step_id='w', tool_name='t'))\n"
            "        store.append('acme', f'w-{n % 50}', [event])\n",
            store_url,
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while store.stream_version("acme", "w-0") == 0:  # the writer is under way
            assert time.monotonic() < deadline
            assert writer.poll() is None
            time.sleep(0.05)
        counts = []
        for _ in range(20):
            report = split(store, 3)
            assert report.ok, report.first_break
            counts.append(report.events)
        assert before.events < counts[0] < counts[-1]  # the scans ran while it appended
    finally:
        writer.kill()
        writer.wait()
    assert verify_store(store, "acme").ok
