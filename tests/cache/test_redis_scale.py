"""Redis at scale: hash-tagged keys, explicit EF_RUNTIME, and a clear error without FT.*."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from omnihub.cache import CacheEntry, RedisPlanIndex
from omnihub.cache._redis import EF_RUNTIME
from omnihub.errors import ConfigurationError
from omnihub.servers import EmbeddedRedis


def test_a_redis_without_the_query_engine_is_refused_at_start(tmp_path: Path) -> None:
    with (
        EmbeddedRedis(tmp_path / "plain", query_engine=False) as plain,
        pytest.raises(ConfigurationError, match="no Query Engine"),
    ):
        RedisPlanIndex(plain.url)


def test_every_key_of_a_tenant_hashes_to_one_cluster_slot(
    redis_url: str, make_entry: Callable[..., CacheEntry]
) -> None:
    import redis
    from redis.crc import key_slot

    index = RedisPlanIndex(redis_url, namespace=f"t-{uuid.uuid4().hex[:8]}")
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    for key in ("k1", "k2"):
        index.add(make_entry("acme", key), vector)
    found = index.search("acme", vector, 2, time.time())
    assert len(found) == 2
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.scan_iter(match="t-*") if b":lock:" not in k]
    client.close()
    assert len(keys) == 4  # two entries, two exact-key sets
    assert len({key_slot(k) for k in keys}) == 1
    assert EF_RUNTIME == 64
    index.close()
