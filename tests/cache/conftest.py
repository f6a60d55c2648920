from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from omnihub.cache import MemoryPlanIndex, PlanIndex, RedisPlanIndex
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
