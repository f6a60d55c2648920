"""Third-party errors are translated where they enter; the demo runs end to end."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from omnihub.cli import app
from omnihub.errors import ConfigurationError, StoreError, StoreUnavailableError, ValidationError
from omnihub.events import GoalReceived, NewEvent, StepStarted, open_event_store
from omnihub.events._sqlite import SQLiteEventStore


def received() -> NewEvent:
    return NewEvent(payload=GoalReceived(goal="g", user_id="u"))


def test_sqlite_directory_instead_of_file_is_store_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError):
        open_event_store(f"sqlite:///{tmp_path}")


def test_sqlite_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an SQLite database, just bytes " * 100)
    with pytest.raises(StoreError):
        open_event_store(f"sqlite:///{path}")


def test_sqlite_rejects_unknown_synchronous_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteEventStore(f"sqlite:///{tmp_path / 'e.db'}", synchronous="OFF")


def test_malformed_stored_payload_reads_as_a_typed_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    with open_event_store(url) as store:
        store.append("acme", "g", [received()])
        with sqlite3.connect(tmp_path / "e.db") as conn:
            conn.execute("UPDATE omnihub_events SET payload = '{\"goal\": '")
        with pytest.raises(ValidationError, match="not valid JSON"):
            store.read_stream("acme", "g")


def test_postgres_errors_become_store_errors(postgres_url: str) -> None:
    with open_event_store(postgres_url) as store:
        store.append("acme", "g", [received()])
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DROP TABLE omnihub_events")
        with pytest.raises(StoreError):
            store.read_all("acme")
        with pytest.raises(StoreError):
            store.append("acme", "g", [received()])
    with pytest.raises(StoreError):
        store.read_all("acme")


async def test_subscription_is_an_async_iterator(tmp_path: Path) -> None:
    with open_event_store(f"sqlite:///{tmp_path / 'e.db'}") as store:
        store.append(
            "acme", "g", [received(), NewEvent(payload=StepStarted(step_id="s", tool_name="t"))]
        )
        subscription = store.subscribe("acme", poll_interval=0.05)
        seen = []
        async for event in subscription:
            seen.append(event.event_type)
            if len(seen) == 2:
                subscription.stop()
        subscription.close()
        assert seen == ["GoalReceived", "StepStarted"]
        assert subscription.stopped
        await asyncio.sleep(0)


def test_demo_walks_through_the_event_store(omnihub_home: Path) -> None:
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "a stale writer was refused" in result.output
    assert "reads as v2: duration_ms=250.0" in result.output
    assert "status completed" in result.output
    assert "chains intact" in result.output
    assert (omnihub_home / "events.db").exists()
