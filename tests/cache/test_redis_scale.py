"""Redis at scale: hash-tagged keys, explicit EF_RUNTIME, a clear error without FT.*, and a
real 3-primary Redis Cluster."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from omnihub.cache import CacheEntry, PlanCache, RedisPlanIndex
from omnihub.cache._redis import EF_RUNTIME
from omnihub.embeddings import Embedder
from omnihub.errors import ConfigurationError
from omnihub.servers import EmbeddedRedis, EmbeddedRedisCluster


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


def test_cluster_urls_choose_the_cluster_client_and_keep_tls_options() -> None:
    from omnihub.cache._redis import _split_cluster

    assert _split_cluster("redis+cluster://127.0.0.1:7000") == ("redis://127.0.0.1:7000", True)
    assert _split_cluster("rediss://h:7000/0?cluster=true&ssl_ca_certs=/ca.pem") == (
        "rediss://h:7000?ssl_ca_certs=%2Fca.pem",
        True,
    )
    assert _split_cluster("redis://h:6379/2") == ("redis://h:6379/2", False)
    assert _split_cluster("redis://h:6379/0?cluster=no") == ("redis://h:6379/0", False)


def _tenants_on_distinct_nodes(cluster: EmbeddedRedisCluster) -> dict[str, int]:
    """One tenant name per primary, each hashing (by its tag) to a slot that node owns."""
    from redis.crc import key_slot

    share = EmbeddedRedisCluster.SLOTS // len(cluster.nodes)
    chosen: dict[int, str] = {}
    for i in range(1000):
        tenant = f"tenant{i}"
        node = min(key_slot(f"x:{{{tenant.encode().hex()}}}".encode()) // share, 2)
        chosen.setdefault(node, tenant)
        if len(chosen) == len(cluster.nodes):
            break
    return {tenant: cluster.nodes[node].port for node, tenant in chosen.items()}


def test_on_a_cluster_each_tenant_is_indexed_and_searched_on_the_node_owning_its_slot(
    redis_cluster: EmbeddedRedisCluster, make_entry: Callable[..., CacheEntry]
) -> None:
    """OSS RediSearch has no coordinator: every shard indexes its own keys only, and the
    index name routes FT commands. A tenant's index and keys share one slot, so each tenant's
    search sees all its entries, served by that one node."""
    import redis

    namespace = f"c-{uuid.uuid4().hex[:8]}"
    index = RedisPlanIndex(redis_cluster.url, namespace=namespace)
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    placement = _tenants_on_distinct_nodes(redis_cluster)
    for tenant in placement:
        for key in ("k1", "k2", "k3"):
            index.add(make_entry(tenant, key), vector)
    for tenant in placement:
        found = index.search(tenant, vector, 10, time.time())
        assert sorted(c.entry.key for c in found) == ["k1", "k2", "k3"]
        assert {c.entry.tenant for c in found} == {tenant}
        assert index.count(tenant) == 3
    for node in redis_cluster.nodes:
        client = redis.Redis(host=node.host, port=node.port)
        names = {n.decode() for n in client.execute_command("FT._LIST")}
        ours = {n for n in names if n.startswith(namespace)}
        owned = {t for t, port in placement.items() if port == node.port}
        assert ours == {f"{namespace}:idx:{{{t.encode().hex()}}}" for t in owned}
        # Six keys per tenant (three entries, three exact-key sets), all on the owning node.
        assert sum(1 for _ in client.scan_iter(match=f"{namespace}:*")) == 6 * len(owned)
        client.close()
    index.drop()
    for tenant in placement:
        assert index.count(tenant) == 0
    index.close()


def test_a_search_sent_to_a_node_not_owning_the_tenants_slot_is_redirected(
    redis_cluster: EmbeddedRedisCluster, make_entry: Callable[..., CacheEntry]
) -> None:
    """The finding the design rests on: FT.SEARCH on a shard that does not own the index
    name's slot is answered MOVED, not with that shard's (empty) local results."""
    import redis

    namespace = f"c-{uuid.uuid4().hex[:8]}"
    index = RedisPlanIndex(redis_cluster.url, namespace=namespace)
    tenant, owner = next(iter(_tenants_on_distinct_nodes(redis_cluster).items()))
    index.add(make_entry(tenant, "k1"), np.ones(384, dtype=np.float32))
    other = next(node for node in redis_cluster.nodes if node.port != owner)
    client = redis.Redis(host=other.host, port=other.port)
    with pytest.raises(redis.exceptions.MovedError, match=f"127.0.0.1:{owner}$"):
        client.execute_command("FT.SEARCH", f"{namespace}:idx:{{{tenant.encode().hex()}}}", "*")
    client.close()
    index.drop()
    index.close()


def test_the_plan_cache_hits_and_demotes_on_a_cluster(
    redis_cluster: EmbeddedRedisCluster, embedder: Embedder
) -> None:
    cache = PlanCache(
        RedisPlanIndex(redis_cluster.url, namespace=f"c-{uuid.uuid4().hex[:8]}"),
        embedder,
        version="v1",
        max_plan_failures=2,
    )
    plan = [{"tool": "book_train", "args": {"from": "Lyon", "to": "Nice"}}]
    for tenant in _tenants_on_distinct_nodes(redis_cluster):
        cache.store(tenant, "Book a train from Lyon to Nice", plan)
        hit = cache.lookup(tenant, "Book a train from Turin to Bern")
        assert hit.hit
        assert hit.entry_id is not None
        assert hit.plan == [{"tool": "book_train", "args": {"from": "Turin", "to": "Bern"}}]
        assert not cache.demote(tenant, hit.entry_id, "tool rejected its arguments").evicted
        assert cache.demote(tenant, hit.entry_id, "compensated").evicted
        assert not cache.lookup(tenant, "Book a train from Turin to Bern").hit
    cache.index.drop()  # type: ignore[attr-defined]
    cache.close()
