"""Build the plan cache from settings: the index backend is the only thing that changes."""

from __future__ import annotations

from omnihub.cache._cache import PlanCache
from omnihub.cache._index import PlanIndex
from omnihub.config import Settings
from omnihub.embeddings import Embedder, open_embedder
from omnihub.errors import ConfigurationError

INDEX_BACKENDS = ("memory", "redis")


def open_index(
    backend: str,
    *,
    settings: Settings | None = None,
    redis_url: str | None = None,
    path: str | None = None,
    max_entries: int = 100_000,
) -> PlanIndex:
    """An index backend by name: ``memory`` (HNSW + SQLite; ``path`` None keeps it in memory)
    or ``redis`` (needs a URL)."""
    if backend == "memory":
        from omnihub.cache._memory import MemoryPlanIndex

        return MemoryPlanIndex(path, max_entries=max_entries)
    if backend == "redis":
        url = redis_url or (settings.cache_redis_url if settings else None)
        if not url:
            raise ConfigurationError("the redis plan cache needs OMNIHUB_CACHE_REDIS_URL")
        from omnihub.cache._redis import RedisPlanIndex

        return RedisPlanIndex(url)
    raise ConfigurationError(
        f"unknown plan cache backend {backend!r}; choose one of {', '.join(INDEX_BACKENDS)}"
    )


def open_plan_cache(
    settings: Settings, *, version: str, embedder: Embedder | None = None
) -> PlanCache:
    """The plan cache configured by ``settings`` (backend, threshold, TTL, size cap)."""
    index = open_index(
        settings.cache_backend,
        settings=settings,
        path=str(settings.resolved_cache_path),
        max_entries=settings.cache_max_entries,
    )
    return PlanCache(
        index,
        embedder or open_embedder(settings),
        version=version,
        threshold=settings.cache_threshold,
        ttl_seconds=settings.cache_ttl_seconds,
        max_request_chars=settings.cache_max_request_chars,
        max_plan_failures=settings.cache_max_plan_failures,
    )
