"""Console fixtures: the real stack per test (see consolekit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from consolekit import Stack, running_stack

from omnihub.servers import EmbeddedTemporal


@pytest.fixture
async def stack(temporal_server: EmbeddedTemporal, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(temporal_server, tmp_path) as built:
        yield built
