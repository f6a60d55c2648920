"""Fixtures shared by the auth store contract tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["memory", "redis"])
def kv_url(request: pytest.FixtureRequest) -> str:
    """Each in-memory-or-Redis store's contract runs on both backends (Redis: a real server)."""
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))
