"""Hash chains and audit: tamper with stored rows for real, in SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from omnihub.cli import app
from omnihub.errors import ValidationError
from omnihub.events import (
    EventStore,
    GoalReceived,
    NewEvent,
    StepCompleted,
    StepStarted,
    export_jsonl,
    verify_store,
)
from omnihub.events._sqlite import sqlite_path

runner = CliRunner()


def fill(store: EventStore) -> None:
    for n in range(3):
        store.append(
            "acme",
            f"goal-{n}",
            [
                NewEvent(payload=GoalReceived(goal=f"goal {n}", user_id="u")),
                NewEvent(payload=StepStarted(step_id="s1", tool_name="pay")),
                NewEvent(payload=StepCompleted(step_id="s1", result={"amount": 10 + n})),
            ],
        )
    store.append("globex", "goal-0", [NewEvent(payload=GoalReceived(goal="other", user_id="v"))])


def execute(store_url: str, sql: str, params: tuple[object, ...]) -> int:
    """Change stored rows behind the store's back, as an attacker with database access would."""
    if store_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(store_url)) as conn:
            changed = conn.execute(sql.replace("%s", "?"), params).rowcount
        return changed
    with psycopg.connect(store_url, autocommit=True) as pg:
        return pg.execute(sql, params).rowcount


def test_intact_store_verifies_and_cli_exits_zero(store: EventStore, store_url: str) -> None:
    fill(store)
    report = verify_store(store)
    assert report.ok
    assert (report.events, report.streams, report.broken_streams) == (10, 4, 0)
    result = runner.invoke(app, ["audit", "verify", "--store-url", store_url])
    assert result.exit_code == 0, result.output
    assert "10 events in 4 streams" in result.output


def test_tampered_payload_is_caught_naming_stream_and_version(
    store: EventStore, store_url: str
) -> None:
    fill(store)
    forged = json.dumps({"step_id": "s1", "result": {"amount": 1000}}, separators=(",", ":"))
    changed = execute(
        store_url,
        "UPDATE omnihub_events SET payload = %s "
        "WHERE tenant_id = %s AND stream_id = %s AND stream_version = %s",
        (forged, "acme", "goal-1", 3),
    )
    assert changed == 1
    # The forged payload is well-formed: reads succeed, only the chain reveals it.
    assert store.read_stream("acme", "goal-1")[2].payload.result == {"amount": 1000}  # type: ignore[attr-defined]
    report = verify_store(store)
    assert not report.ok
    assert report.first_break is not None
    assert (report.first_break.stream_id, report.first_break.stream_version) == ("goal-1", 3)
    assert "tampered" in report.first_break.reason
    assert report.broken_streams == 1
    assert verify_store(store, "globex").ok
    result = runner.invoke(app, ["audit", "verify", "--store-url", store_url])
    assert result.exit_code == 1
    assert "'goal-1', version 3" in result.output


def test_stored_payload_its_model_rejects_reads_as_a_typed_error(
    store: EventStore, store_url: str
) -> None:
    fill(store)
    store.read_stream("acme", "goal-1")  # the read path's decoders are warm
    changed = execute(
        store_url,
        "UPDATE omnihub_events SET payload = %s "
        "WHERE tenant_id = %s AND stream_id = %s AND stream_version = %s",
        ('{"step_id":5}', "acme", "goal-1", 3),
    )
    assert changed == 1
    with pytest.raises(ValidationError, match="invalid at step_id"):
        store.read_stream("acme", "goal-1")


def test_rehashed_event_breaks_the_link_to_its_successor(store: EventStore, store_url: str) -> None:
    fill(store)
    record = next(r for r in store.iter_records("acme") if r.stream_version == 2)
    fake_hash = hashlib.sha256(b"forged").hexdigest()
    execute(
        store_url,
        "UPDATE omnihub_events SET hash = %s WHERE event_id = %s",
        (fake_hash, record.event_id),
    )
    report = verify_store(store, "acme")
    assert report.first_break is not None
    assert report.first_break.stream_version == 2


def test_deleted_event_is_reported_as_missing(store: EventStore, store_url: str) -> None:
    fill(store)
    execute(
        store_url,
        "DELETE FROM omnihub_events WHERE stream_id = %s AND stream_version = %s",
        ("goal-2", 2),
    )
    report = verify_store(store)
    assert report.first_break is not None
    assert report.first_break.stream_id == "goal-2"
    assert report.first_break.stream_version == 3
    assert "missing" in report.first_break.reason


def test_export_lines_recompute_to_the_stored_hashes(
    store: EventStore, store_url: str, tmp_path: Path
) -> None:
    fill(store)
    lines = list(export_jsonl(store))
    assert len(lines) == 10
    for line in lines:
        record = json.loads(line)
        event_text = line[len('{"event":') : line.index(',"global_position":')]
        digest = hashlib.sha256(bytes.fromhex(record["prev_hash"]) + event_text.encode())
        assert digest.hexdigest() == record["hash"]
    out = tmp_path / "audit.jsonl"
    result = runner.invoke(
        app,
        ["audit", "export", "--format", "jsonl", "--store-url", store_url, "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines() == lines
    result = runner.invoke(app, ["audit", "export", "--store-url", store_url, "--tenant", "globex"])
    assert result.exit_code == 0
    assert [json.loads(x)["event"]["tenant_id"] for x in result.output.splitlines()] == ["globex"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_events_show_prints_timeline_and_state(store: EventStore, store_url: str) -> None:
    fill(store)
    result = runner.invoke(
        app, ["events", "show", "goal-1", "--store-url", store_url, "--tenant", "acme"]
    )
    assert result.exit_code == 0, result.output
    assert "GoalReceived" in result.output
    assert "StepCompleted" in result.output
    assert "status running" in result.output
    result = runner.invoke(
        app, ["events", "show", "goal-1", "--store-url", store_url, "--tenant", "acme", "--json"]
    )
    assert json.loads(result.output)["steps"][0]["result"] == {"amount": 11}
    result = runner.invoke(app, ["events", "show", "nope", "--store-url", store_url])
    assert result.exit_code == 1


def test_of_two_broken_streams_the_earlier_in_global_order_is_reported(
    store: EventStore, store_url: str
) -> None:
    fill(store)
    for n in range(3, 9):
        store.append("acme", f"goal-{n}", [NewEvent(payload=GoalReceived(goal="g", user_id="u"))])
    assert verify_store(store).ok
    # goal-1's version 2 was stored before goal-7's version 1.
    for stream, version in (("goal-7", 1), ("goal-1", 2)):
        execute(
            store_url,
            "UPDATE omnihub_events SET hash = %s "
            "WHERE tenant_id = %s AND stream_id = %s AND stream_version = %s",
            ("0" * 64, "acme", stream, version),
        )
    report = verify_store(store)
    assert (report.events, report.streams, report.broken_streams) == (16, 10, 2)
    assert report.first_break is not None
    assert (report.first_break.stream_id, report.first_break.stream_version) == ("goal-1", 2)


def test_events_swapped_within_a_stream_are_caught(store: EventStore, store_url: str) -> None:
    fill(store)
    first, second = [r for r in store.iter_records("acme") if r.stream_id == "goal-1"][:2]
    # Swap the global positions of versions 1 and 2 (through a free position).
    spare = 10**12
    for old, new in (
        (first.global_position, spare),
        (second.global_position, first.global_position),
        (spare, second.global_position),
    ):
        assert (
            execute(
                store_url,
                "UPDATE omnihub_events SET global_position = %s WHERE global_position = %s",
                (new, old),
            )
            == 1
        )
    report = verify_store(store, "acme")
    assert report.first_break is not None
    assert (report.first_break.stream_id, report.first_break.stream_version) == ("goal-1", 2)
    assert "missing" in report.first_break.reason


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("event_type", "StepFailed"),
        ("occurred_at", "2020-01-01T00:00:00.000000Z"),
        ("recorded_at", "2020-01-01T00:00:00.000000Z"),
        ("correlation_id", "other"),
        ("causation_id", "cause"),
        ("idempotency_key", "replayed"),
        ("event_id", "01900000-0000-7000-8000-000000000000"),
        ("schema_version", 9),
    ],
)
def test_any_changed_metadata_column_is_caught(
    store: EventStore, store_url: str, column: str, value: object
) -> None:
    fill(store)
    changed = execute(
        store_url,
        f"UPDATE omnihub_events SET {column} = %s "
        "WHERE tenant_id = %s AND stream_id = %s AND stream_version = %s",
        (value, "acme", "goal-0", 2),
    )
    assert changed == 1
    report = verify_store(store)
    assert report.first_break is not None
    assert (report.first_break.stream_id, report.first_break.stream_version) == ("goal-0", 2)
    assert "tampered" in report.first_break.reason


def test_stream_moved_to_another_tenant_is_caught_there(store: EventStore, store_url: str) -> None:
    fill(store)
    moved = execute(
        store_url,
        "UPDATE omnihub_events SET tenant_id = %s WHERE tenant_id = %s AND stream_id = %s",
        ("globex", "acme", "goal-2"),
    )
    assert moved == 3
    # Its hashes cover the tenant it was written for.
    report = verify_store(store, "globex")
    assert report.first_break is not None
    assert (report.first_break.stream_id, report.first_break.stream_version) == ("goal-2", 1)
    assert "tampered" in report.first_break.reason


def test_forged_prev_hash_is_caught(store: EventStore, store_url: str) -> None:
    fill(store)
    execute(
        store_url,
        "UPDATE omnihub_events SET prev_hash = %s "
        "WHERE tenant_id = %s AND stream_id = %s AND stream_version = %s",
        ("0" * 64, "acme", "goal-0", 3),
    )
    report = verify_store(store)
    assert report.first_break is not None
    assert (report.first_break.stream_id, report.first_break.stream_version) == ("goal-0", 3)
    assert "prev_hash" in report.first_break.reason


def test_ids_that_need_escaping_verify_intact(store: EventStore) -> None:
    odd = 'q"b\\s\nt\x01\u2028 é 😀 \x7f'
    store.append(
        "acme",
        "goal-odd",
        [
            NewEvent(
                payload=GoalReceived(goal=odd, user_id=odd),
                correlation_id=odd,
                causation_id=odd,
                idempotency_key=odd,
            )
        ],
    )
    report = verify_store(store)
    assert report.ok
    assert report.events == 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_value_of_another_type_is_caught(store: EventStore, store_url: str) -> None:
    """SQLite stores any type in any column: the same text as a BLOB is still a change."""
    fill(store)
    record = next(r for r in store.iter_records("acme") if r.stream_version == 2)
    execute(
        store_url,
        "UPDATE omnihub_events SET payload = %s WHERE event_id = %s",
        (record.payload.encode(), record.event_id),
    )
    report = verify_store(store)
    assert report.first_break is not None
    assert report.first_break.stream_version == 2
    assert "tampered" in report.first_break.reason


def test_prefetched_batches_arrive_in_order_carry_errors_and_stop_early() -> None:
    from omnihub.events._postgres import _prefetched

    batches = iter([[1, 2], [3], []])
    assert list(_prefetched(lambda: next(batches))) == [[1, 2], [3]]

    def failing() -> list[int]:
        raise psycopg.OperationalError("connection lost")

    with pytest.raises(psycopg.OperationalError, match="connection lost"):
        list(_prefetched(failing))

    fetched: list[int] = []

    def endless() -> list[int]:
        fetched.append(1)
        return [len(fetched)]

    stream = _prefetched(endless)
    assert next(stream) == [1]
    stream.close()  # the reader thread is stopped and joined
    count = len(fetched)
    assert count <= 4  # one handed out, two queued, at most one fetched while stopping
    time.sleep(0.3)
    assert len(fetched) == count  # nothing fetches once the generator is closed
