"""Saga fixtures: a real stack (Temporal dev server, SQLite store, worker) per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sagakit import SagaStack, saga_stack

from omnihub.servers import EmbeddedTemporal


@pytest.fixture
async def stack(temporal_server: EmbeddedTemporal, tmp_path: Path) -> AsyncIterator[SagaStack]:
    async with saga_stack(temporal_server, tmp_path) as built, built.worker():
        yield built
