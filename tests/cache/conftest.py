from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from omnihub.cache import CacheEntry, MemoryPlanIndex, PlanIndex, RedisPlanIndex
from omnihub.embeddings import Embedder, open_embedder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return open_embedder("onnx")


@pytest.fixture(params=["memory", "redis"])
def index(request: pytest.FixtureRequest) -> Iterator[PlanIndex]:
    """Every index contract test runs against both backends (Redis: the real server)."""
    built: PlanIndex
    if request.param == "memory":
        built = MemoryPlanIndex()
    else:
        url = request.getfixturevalue("redis_url")
        built = RedisPlanIndex(url, namespace=f"test-{uuid.uuid4().hex[:8]}")
    yield built
    built.close()


def _entry(
    tenant: str, key: str, *, tools: tuple[str, ...] = ("t",), ttl: float = 60
) -> CacheEntry:
    now = time.time()
    return CacheEntry(
        id=uuid.uuid4().hex,
        tenant=tenant,
        key=key,
        template=f"template {key}",
        signature=("DATE",),
        plan=[{"tool": tools[0], "args": {"d": {"$slot": "DATE", "as": "value"}}}],
        version="v1",
        tools=tools,
        created_at=now,
        expires_at=now + ttl,
        bound={"NUMBER": "3"},
        planner_tokens=12,
    )


@pytest.fixture
def make_entry() -> Callable[..., CacheEntry]:
    """Builds a cache entry: ``make_entry(tenant, key, tools=(...), ttl=seconds)``."""
    return _entry
