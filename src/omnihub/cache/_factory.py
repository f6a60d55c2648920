"""Build the plan cache from settings: the index backend, named by a URL, is the only thing
that changes."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

from omnihub.cache._cache import PlanCache
from omnihub.cache._guards import wording_guard
from omnihub.cache._index import PlanIndex
from omnihub.config import Settings, parse_backend_url, private_file
from omnihub.embeddings import Embedder, open_embedder
from omnihub.errors import ConfigurationError, StoreError

INDEX_BACKENDS = ("memory", "redis")
#: A request that reaches every table understanding and the guards read (see prepare_process).
SAMPLE_REQUEST = "Please don't book 2 trains from Lyon to Nice tomorrow at 5pm for ana@example.org"


def _legacy_url(
    backend: str | None, settings: Settings | None, redis_url: str | None, path: str | None
) -> str:
    """The URL the deprecated backend names stand for (``memory`` with a path, ``redis``)."""
    if backend is None:
        return settings.resolved_cache_url if settings else "memory://"
    if "://" in backend:
        return backend
    if backend == "memory":
        return f"sqlite:///{path}" if path else "memory://"
    if backend == "redis":
        url = redis_url or (settings.cache_redis_url if settings else None)
        if not url:
            raise ConfigurationError("the redis plan cache needs OMNIHUB_CACHE_REDIS_URL")
        return url
    raise ConfigurationError(
        f"unknown plan cache backend {backend!r}; choose one of {', '.join(INDEX_BACKENDS)} "
        "or give a URL (sqlite:///PATH, memory://, redis://...)"
    )


def open_index(
    backend: str | None = None,
    *,
    settings: Settings | None = None,
    redis_url: str | None = None,
    path: str | None = None,
    max_entries: int = 100_000,
) -> PlanIndex:
    """The index a URL names: ``sqlite:///PATH`` (in-process HNSW persisted to SQLite),
    ``memory://`` (HNSW, not persisted) or ``redis://`` / ``rediss://`` (passed to the Redis
    index unchanged). ``None`` takes ``settings.resolved_cache_url``. The deprecated names
    ``memory`` (with ``path``) and ``redis`` (with ``redis_url``) still work."""
    url = _legacy_url(backend, settings, redis_url, path)
    parsed = parse_backend_url(url, allowed=("sqlite", "memory", "redis"), purpose="plan cache URL")
    if parsed.kind == "redis":
        from omnihub.cache._redis import RedisPlanIndex

        return RedisPlanIndex(url)
    from omnihub.cache._memory import MemoryPlanIndex

    if parsed.path is not None:
        try:
            private_file(parsed.path)  # 0600 before SQLite opens it (-wal/-shm inherit it)
        except OSError as exc:
            raise StoreError(f"cannot open the plan cache at {parsed.path}: {exc}") from exc
    return MemoryPlanIndex(parsed.path, max_entries=max_entries)


def open_plan_cache(
    settings: Settings, *, version: str, embedder: Embedder | None = None
) -> PlanCache:
    """The plan cache configured by ``settings`` (index URL, threshold, TTL, size cap)."""
    index = open_index(settings.resolved_cache_url, max_entries=settings.cache_max_entries)
    cache = PlanCache(
        index,
        embedder or open_embedder(settings),
        version=version,
        threshold=settings.cache_threshold,
        ttl_seconds=settings.cache_ttl_seconds,
        max_request_chars=settings.cache_max_request_chars,
        max_plan_failures=settings.cache_max_plan_failures,
    )
    prepare_process()
    return cache


def prepare_process() -> None:
    """Ready a process for lookups once its entries are loaded.

    The lexicon's tables are read on first use (lemminflect's lemma table, the spelling
    vocabulary, WordNet relations: ~0.75 s here), which stalled the first lookups; one
    sample request through understanding and the wording guard loads them now. Then what the
    process holds (entries loaded from SQLite, the model, those tables) is moved out of the
    garbage collector's reach: it lives as long as the process, and a full collection would
    otherwise walk it during some lookup (one over 100,000 cached entries paused a lookup for
    143 ms here). Garbage is collected first, so none is kept forever.
    """
    from omnihub.cache._cache import _understand

    _, template = _understand(SAMPLE_REQUEST, datetime.now(UTC))
    wording_guard(template.text, "cancel the booking of {EMAIL} for {DATE}")
    gc.collect()
    gc.freeze()
