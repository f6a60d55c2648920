from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from omnihub.cache import CacheEntry, MemoryPlanIndex, PlanIndex, RedisPlanIndex
from omnihub.embeddings import Embedder, open_embedder
from omnihub.servers import EmbeddedRedisCluster


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return open_embedder("onnx")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedisCluster]:
    """A real 3-primary Redis Cluster (Redis 8.2 + RediSearch 2.10) on loopback."""
    with EmbeddedRedisCluster(tmp_path_factory.mktemp("redis-cluster"), primaries=3) as cluster:
        yield cluster


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
def index(request: pytest.FixtureRequest) -> Iterator[PlanIndex]:
    """Every index contract test runs against every backend: in process, one real Redis and a
    real 3-primary Redis Cluster (each test in its own namespace)."""
    built: PlanIndex
    if request.param == "memory":
        built = MemoryPlanIndex()
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
        built = RedisPlanIndex(url, namespace=f"test-{uuid.uuid4().hex[:8]}")
    else:
        cluster: EmbeddedRedisCluster = request.getfixturevalue("redis_cluster")
        built = RedisPlanIndex(cluster.url, namespace=f"test-{uuid.uuid4().hex[:8]}")
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
