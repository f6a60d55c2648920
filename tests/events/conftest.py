"""Fixtures of the event-store tests: one store per backend, on real databases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from omnihub.events import EventStore, open_event_store

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store URL on ``backend`` (PostgreSQL: a new database on the server)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    with open_event_store(store_url) as opened:
        yield opened


def moment(seconds: float) -> datetime:
    """A fixed, deterministic moment ``seconds`` after 2026-01-01T00:00:00Z."""
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


@pytest.fixture
def at() -> Callable[[float], datetime]:
    """``at(seconds)``: deterministic timestamps for events."""
    return moment
