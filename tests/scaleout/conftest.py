"""Fixtures of the scale-out tests: settings every OmniHub process shares, and the processes."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from scaleout_support import Processes, shared_settings

from omnihub.crypto import KeyRing
from omnihub.servers import EmbeddedTemporal


@pytest.fixture
def shared_env(
    postgres_url: str, redis_url: str, temporal_server: EmbeddedTemporal
) -> dict[str, str]:
    """Settings every process shares: one PostgreSQL (events, tools' tables, keys, idempotency
    records), one Redis (plan cache, nonces, rate limits), one Temporal, and the same keys
    (payload codec, signing-secret encryption). Each process gets its own, otherwise empty,
    home."""
    return shared_settings(
        OMNIHUB_EVENT_STORE_URL=postgres_url,
        OMNIHUB_API_KEYS_URL=postgres_url,
        OMNIHUB_API_REDIS_URL=redis_url,
        OMNIHUB_CACHE_URL=redis_url,
        OMNIHUB_CODEC_KEYS=KeyRing.generate().dumps(),
        # The test submits its goals as fast as it can through one key: rate limits (shared in
        # Redis, tested in tests/auth) are lifted so they do not pace it.
        OMNIHUB_API_RATE_LIMIT_PER_SECOND="1000",
        OMNIHUB_API_RATE_LIMIT_BURST="10000",
        OMNIHUB_API_KEYS_SECRET=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        OMNIHUB_TEMPORAL_ADDRESS=temporal_server.address,
        OMNIHUB_TASK_QUEUE=f"scale-out-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start OmniHub processes with ``processes.start``; every one is stopped at the end."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    started = Processes(log_dir)
    yield started
    started.stop()
