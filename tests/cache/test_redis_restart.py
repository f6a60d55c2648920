"""The Redis plan index after its server restarts empty (a crash without persistence):
searches work again, without restarting the process that made the index."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from omnihub.cache import CacheEntry
from omnihub.cache._redis import RedisPlanIndex
from omnihub.servers import EmbeddedRedis


def test_a_search_after_redis_restarted_empty_makes_the_index_again(
    tmp_path: Path, make_entry: Callable[..., CacheEntry]
) -> None:
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    with EmbeddedRedis(tmp_path / "redis") as redis:
        index = RedisPlanIndex(redis.url)
        try:
            assert index.search("acme", vector, 3, 0.0) == []  # the index exists now
            redis.stop(kill=True)
            redis.start()
            # Before the fix: "no such index" on every search until the process restarted.
            assert index.search("acme", vector, 3, 0.0) == []
            entry = make_entry("acme", "k1")
            index.add(entry, vector)
            found = index.search("acme", vector, 3, time.time())
            assert [candidate.entry.id for candidate in found] == [entry.id]
        finally:
            index.close()
