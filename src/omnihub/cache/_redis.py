"""The scale-out plan-cache index: Redis with the Query Engine (RediSearch), shared by every
worker. One hash per entry with an absolute expiry (PEXPIREAT) and an HNSW vector field.
Tenants are partitioned hard: each tenant has its own key prefix (the tenant name hex-encoded,
so no tenant's prefix can be another's) and its own search index over that prefix, so a query
can only ever see its tenant's vectors. (A shared index with a mandatory ``@tenant`` TAG filter
was measured first: the filtered KNN took ~12 ms at 20,000 entries against ~0.5 ms for a bare
KNN on a per-tenant index.)

**Key layout and Redis Cluster.** Every key of a tenant carries the tenant's hash tag
(``{hex(tenant)}``), so an entry, its exact-key set and the tenant's index prefix share one
slot: writes are single-slot MULTI/EXEC transactions, never cross-slot. **EF_RUNTIME** is
passed on every KNN query (:data:`EF_RUNTIME`, 64, as in process; the index default is 10).

**URLs.** ``redis://host:port/db`` (one server), ``rediss://…`` (TLS; the CA bundle as
``?ssl_ca_certs=/path/ca.pem``, and ``ssl_certfile``/``ssl_keyfile`` for client certificates —
redis-py's URL query arguments), and Redis Cluster as ``redis+cluster://host:port`` or
``rediss+cluster://…`` (or any of them with ``?cluster=true``), naming any one node.

**Redis Cluster without a coordinator.** Open-source RediSearch (2.10 here, loaded into Redis
8.2) has no cross-shard coordinator: each shard indexes only the keys it holds, and
FT.CREATE/FT.SEARCH/FT.INFO/FT.DROPINDEX treat the *index name* as their key, so a node that
does not own the name's slot answers ``MOVED`` (measured on a 3-primary cluster: an index
created on its owner lists on that node only; a search sent elsewhere is redirected). Hence the
index name, its key prefix and every key of a tenant carry the tenant's hash tag: the index and
all the documents it must see live on one shard, and each FT command is sent to the node that
owns that slot. ``FT._LIST`` is per node and is asked of every primary.

**Managed services.** The backend needs the Query Engine (``FT.CREATE``/``FT.SEARCH`` with
HNSW vectors): Redis 8 (search is built in), Redis Stack, Redis Cloud, Azure Managed Redis.
Services without it (plain ElastiCache/Memorystore/Valkey without the search module) answer
``unknown command``; the index then refuses to start with a :class:`ConfigurationError`
instead of missing on every lookup.

**Similarity vs Redis distance — the one place this is converted.** Settings and metrics speak
cosine *similarity*. Redis's ``COSINE`` metric returns a *distance*, ``1 - cosine similarity``
(0 for the same direction, 2 for opposite), so ``similarity = 1 - distance`` and a threshold of
0.85 similarity is a distance of at most 0.15. :func:`similarity_from_distance` and
:func:`distance_from_similarity` below are the only code that converts.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from omnihub.cache._index import ENTRY_FIELDS, CacheEntry, Candidate, Vector
from omnihub.errors import ConfigurationError, StoreError, StoreUnavailableError

NAMESPACE = "omnihub:plancache"
#: HNSW search breadth per query. RediSearch's index default is 10, the in-process index
#: searches with 64; the same value on both keeps one recall on both backends, so it is set on
#: every KNN query rather than left to the index default.
EF_RUNTIME = 64
_TAG_SPECIAL = re.compile(r"([^A-Za-z0-9_])")
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end"
)
# Counting a failure must not recreate an entry that expired meanwhile (a hash without expiry).
_RECORD_FAILURE = (
    "if redis.call('exists', KEYS[1]) == 1 then "
    "return redis.call('hincrby', KEYS[1], 'failures', 1) else return 0 end"
)
#: The hash field holding the whole entry packed (:meth:`CacheEntry.pack`); not indexed.
_PACKED = "entry"
_PACKED_B = _PACKED.encode()
T = TypeVar("T")


def similarity_from_distance(distance: float) -> float:
    """Redis COSINE distance → cosine similarity (``1 - distance``)."""
    return 1.0 - distance


def distance_from_similarity(similarity: float) -> float:
    """Cosine similarity → Redis COSINE distance (``1 - similarity``)."""
    return 1.0 - similarity


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _slot(tenant: str) -> str:
    """The tenant's hash tag: every key of a tenant (entries, key sets) hashes to one Redis
    Cluster slot, so a tenant's writes are single-slot transactions and its index can live on
    the one shard that holds its keys."""
    return "{" + tenant.encode().hex() + "}"


def _split_cluster(url: str) -> tuple[str, bool]:
    """``(url for redis-py, cluster?)``: a ``+cluster`` scheme or ``cluster=true`` query."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    cluster = scheme.endswith("+cluster")
    if cluster:
        scheme = scheme.removesuffix("+cluster")
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "cluster":
            cluster = cluster or value.lower() in ("1", "true", "yes", "on")
        else:
            query.append((name, value))
    path = "" if cluster else parts.path  # a cluster has only database 0
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), parts.fragment)), cluster


def redis_client(url: str, *, socket_timeout: float | None) -> Any:
    """A redis-py client for ``url``: :class:`redis.RedisCluster` for a cluster URL, else
    :class:`redis.Redis` (TLS and its options come from the URL either way)."""
    import redis
    from redis.cluster import RedisCluster

    plain, cluster = _split_cluster(url)
    if cluster:
        return RedisCluster.from_url(
            plain, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
    return redis.Redis.from_url(
        plain, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
    )


def _tag(value: str) -> str:
    return _TAG_SPECIAL.sub(r"\\\1", value)


def _from_fields(values: list[Any], packed: Any = None) -> CacheEntry:
    """An entry from its packed copy if there is one, else from its hash fields in
    :data:`ENTRY_FIELDS` order (an entry written by an older release)."""
    entry = CacheEntry.unpack(packed) if packed is not None else None
    if entry is not None:
        return entry
    return CacheEntry.from_row(
        {name: _text(value) for name, value in zip(ENTRY_FIELDS, values, strict=True)}
    )


# RediSearch's answer about an index that is not there (e.g. after a restart without data).
_INDEX_LOST = "no such index"


class RedisPlanIndex:
    """Entries as Redis hashes under ``{namespace}:e:{hex(tenant)}:{id}``, indexed by the
    tenant's search index ``{namespace}:idx:{hex(tenant)}``; a separate namespace is a separate
    cache (the evaluation uses a fresh one)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = NAMESPACE,
        dimensions: int = 384,
        socket_timeout: float = 0.5,
        client: Any = None,
        ef_runtime: int = EF_RUNTIME,
    ) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - the redis extra is installed in dev
            raise ConfigurationError(
                "the Redis plan cache needs: pip install 'omnihub[redis]'"
            ) from exc
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self._unavailable: tuple[type[BaseException], ...] = (
            redis.ConnectionError,
            redis.TimeoutError,
            OSError,
        )
        self._dimensions = dimensions
        self._namespace = namespace
        self._lock_prefix = f"{namespace}:lock:"
        self._url = url
        self._cluster = _split_cluster(url)[1]
        self._client = client or redis_client(url, socket_timeout=socket_timeout)
        self._ready: set[str] = set()
        self._ef_runtime = int(ef_runtime)
        self._require_query_engine()

    def _require_query_engine(self) -> None:
        """Fail at start, not with silent misses, on a Redis without the Query Engine (a
        managed service without RediSearch: ``FT.*`` is an unknown command there). An
        unreachable server is not an error here: the cache then answers misses until it is
        back."""
        try:
            self._ft_list(self._client)
        except self._unavailable:
            return
        except self._redis_errors as exc:
            if "unknown command" in str(exc).lower():
                raise ConfigurationError(
                    f"the Redis at this URL has no Query Engine (FT.* commands: {exc}); the "
                    "plan cache needs Redis 8, Redis Stack or a managed Redis with search "
                    "(Redis Cloud, Azure Managed Redis; not ElastiCache/Memorystore without it)"
                ) from exc
            raise StoreError(f"Redis plan cache error: {exc}") from exc

    # -- error translation -----------------------------------------------------------
    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except self._unavailable as exc:
            raise StoreUnavailableError(f"Redis is unavailable: {exc}") from exc
        except self._redis_errors as exc:
            if _INDEX_LOST in str(exc).lower():
                # chaos2: a Redis restarted without persistence lost the indexes this process
                # made; forget them so that the next call makes them again (FT.CREATE indexes
                # the entries written since from their key prefix). Remembering them forever
                # failed every search until the process restarted.
                self._ready.clear()
            raise StoreError(f"Redis plan cache error: {exc}") from exc

    def _ft(self, tenant: str, *args: Any) -> Any:
        """An FT command about ``tenant``'s index, on the node owning the tenant's slot in a
        cluster (the module has no coordinator: see the module docstring)."""
        if self._cluster:
            node = self._client.get_node_from_key(self._index_name(tenant))
            return self._client.execute_command(*args, target_nodes=node)
        return self._client.execute_command(*args)

    def _ft_list(self, client: Any) -> list[str]:
        """Every index name (of every primary in a cluster)."""
        if not self._cluster:
            return [_text(raw) for raw in client.execute_command("FT._LIST")]
        # Listed nodes, not the PRIMARIES flag: redis-py 8.1 still looks for a key with a flag.
        names: set[str] = set()
        for node in client.get_primaries():
            names.update(
                _text(raw) for raw in client.execute_command("FT._LIST", target_nodes=node)
            )
        return sorted(names)

    def _index_name(self, tenant: str) -> str:
        return f"{self._namespace}:idx:{_slot(tenant)}"

    def _prefix(self, tenant: str) -> str:
        return f"{self._namespace}:e:{_slot(tenant)}:"

    def _keyset(self, tenant: str, key: str) -> str:
        """The set of entry ids with canonical template hash ``key`` (exact fast path: one
        SMEMBERS instead of a search)."""
        return f"{self._namespace}:k:{_slot(tenant)}:{key}"

    def _queue_write(self, pipe: Any, entry: CacheEntry, vector: Vector) -> None:
        mapping: dict[Any, Any] = dict(entry.to_row())
        # The fields stay for the TAG filters, for invalidation and for readers of an older
        # release; a lookup reads only the packed copy (see _knn).
        mapping[_PACKED] = entry.pack()
        mapping["vector"] = np.asarray(vector, dtype=np.float32).tobytes()
        key = f"{self._prefix(entry.tenant)}{entry.id}"
        keyset = self._keyset(entry.tenant, entry.key)
        expires_ms = int(entry.expires_at * 1000)
        pipe.hset(key, mapping=mapping)
        pipe.pexpireat(key, expires_ms)
        pipe.sadd(keyset, entry.id)
        pipe.pexpireat(keyset, expires_ms, nx=True)  # a new set: its first expiry
        pipe.pexpireat(keyset, expires_ms, gt=True)  # lives as long as its longest entry

    def _ensure_index(self, tenant: str) -> None:
        if tenant in self._ready:
            return
        name = self._index_name(tenant)

        def create() -> None:
            try:
                self._ft(tenant, "FT.INFO", name)
            except self._unavailable:
                raise
            except self._redis_errors:
                self._ft(
                    tenant, "FT.CREATE", name, "ON", "HASH", "PREFIX", "1", self._prefix(tenant),
                    "SCHEMA",
                    "key", "TAG",
                    "version", "TAG",
                    "tools", "TAG", "SEPARATOR", ",",
                    "vector", "VECTOR", "HNSW", "10",
                    "TYPE", "FLOAT32", "DIM", str(self._dimensions),
                    "DISTANCE_METRIC", "COSINE", "M", "16", "EF_CONSTRUCTION", "128",
                )  # fmt: skip

        self._call(create)
        self._ready.add(tenant)

    def _search(self, tenant: str, *args: Any) -> Any:
        """FT.SEARCH on the tenant's own index (created on first use: an empty index is cheap,
        and every worker can then query a tenant it has never written)."""
        self._ensure_index(tenant)

        def search() -> Any:
            return self._call(
                lambda: self._ft(tenant, "FT.SEARCH", self._index_name(tenant), *args)
            )

        try:
            return search()
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            if _INDEX_LOST not in str(exc).lower():
                raise
            self._ensure_index(tenant)  # lost with a restart (see _call): once more
            return search()

    # -- PlanIndex -------------------------------------------------------------------
    def add(self, entry: CacheEntry, vector: Vector) -> None:
        self._ensure_index(entry.tenant)

        def write() -> None:
            pipe = self._client.pipeline(transaction=True)
            self._queue_write(pipe, entry, vector)
            pipe.execute()

        self._call(write)

    def add_many(self, entries: list[CacheEntry], vectors: Vector, batch: int = 500) -> None:
        """Bulk load (benchmarks): pipelined writes, same keys and expiries as :meth:`add`.

        Uses its own connection without the short lookup timeout: indexing a batch of
        vectors into the HNSW graph keeps the server busy for longer than a lookup may wait.
        """
        for tenant in sorted({entry.tenant for entry in entries}):
            self._ensure_index(tenant)
        bulk = redis_client(self._url, socket_timeout=None)

        def write(start: int) -> None:
            pipe = bulk.pipeline(transaction=False)
            for entry, vector in zip(
                entries[start : start + batch], vectors[start : start + batch], strict=True
            ):
                self._queue_write(pipe, entry, vector)
            pipe.execute()

        try:
            for start in range(0, len(entries), batch):
                self._call(lambda start=start: write(start))  # type: ignore[misc]
        finally:
            bulk.close()

    @staticmethod
    def _documents(reply: Any) -> Iterator[tuple[Any, dict[Any, Any]]]:
        """``(key, returned fields)`` of each document of an FT.SEARCH reply, RESP3 (a map)
        or RESP2 (a flat list), names and values as the client gives them (bytes or str)."""
        if isinstance(reply, dict):
            for result in reply.get(b"results") or reply.get("results") or []:
                key = result.get(b"id", result.get("id"))
                yield key, result.get(b"extra_attributes", result.get("extra_attributes", {}))
        else:
            for index in range(1, len(reply) - 1, 2):
                flat = reply[index + 1]
                yield reply[index], dict(zip(flat[::2], flat[1::2], strict=True))

    def _neighbours(self, reply: Any) -> list[tuple[CacheEntry, float]]:
        """``(entry, distance)`` of each document of a KNN reply (:meth:`_knn`). An entry
        written by an older release has no packed copy: its fields are read (one more round
        trip, for those only)."""
        out: list[tuple[CacheEntry, float]] = []
        unpacked: list[tuple[Any, float]] = []
        for key, fields in self._documents(reply):
            packed = fields.get(_PACKED_B, fields.get(_PACKED))
            distance = float(fields[b"dist"] if b"dist" in fields else fields["dist"])
            entry = None if packed is None else CacheEntry.unpack(packed)
            if entry is None:
                unpacked.append((key, distance))
            else:
                out.append((entry, distance))
        if unpacked:

            def fetch() -> list[list[Any]]:
                pipe = self._client.pipeline(transaction=False)
                for key, _ in unpacked:
                    pipe.hmget(key, list(ENTRY_FIELDS))
                return list(pipe.execute())

            for (_, distance), values in zip(unpacked, self._call(fetch), strict=True):
                if values and values[0] is not None:  # None: expired since the search
                    out.append((_from_fields(values), distance))
        return out

    def _knn(self, tenant: str, vector: Vector, k: int) -> list[Any]:
        """The FT.SEARCH command of a KNN query (EF_RUNTIME set on every query).

        No ``SORTBY dist``: ``LIMIT 0 k`` returns all ``k`` neighbours whatever their order,
        and :meth:`_candidates` sorts those few by distance. Sorting on the server took
        ~0.2 ms of a ~0.45 ms KNN at 100,000 entries here (docs/benchmarks.md). Only the
        packed entry and the distance are returned: two fields per document instead of
        thirteen, and one ``json.loads`` to decode (together ~0.1 ms of a cold lookup here).
        """
        query = f"*=>[KNN {int(k)} @vector $vec EF_RUNTIME {self._ef_runtime} AS dist]"
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        return [
            "FT.SEARCH", self._index_name(tenant), query, "PARAMS", "2", "vec", blob,
            "RETURN", "2", _PACKED, "dist", "LIMIT", "0", str(int(k)), "DIALECT", "2",
        ]  # fmt: skip

    def _candidates(self, reply: Any, now: float) -> list[Candidate]:
        found = sorted(self._neighbours(reply), key=lambda e: (e[1], e[0].id))
        return [
            Candidate(entry, similarity_from_distance(distance))
            for entry, distance in found
            if entry.expires_at > now
        ]

    def search(self, tenant: str, vector: Vector, k: int, now: float) -> list[Candidate]:
        return self._candidates(self._search(tenant, *self._knn(tenant, vector, k)[2:]), now)

    def _keyed(self, tenant: str, ids: Any, now: float) -> list[CacheEntry]:
        """The live entries among ``ids`` (one pipelined HMGET each), oldest first."""
        if not ids:
            return []

        def fetch() -> list[list[Any]]:
            pipe = self._client.pipeline(transaction=False)
            for entry_id in sorted(ids):
                pipe.hmget(f"{self._prefix(tenant)}{_text(entry_id)}", [*ENTRY_FIELDS, _PACKED])
            return list(pipe.execute())

        entries = [
            _from_fields(values[:-1], packed=values[-1])
            for values in self._call(fetch)
            if values and values[0] is not None  # None: the entry expired or was dropped
        ]
        return sorted((e for e in entries if e.expires_at > now), key=lambda e: e.created_at)

    def by_key(self, tenant: str, key: str, now: float) -> list[CacheEntry]:
        ids = self._call(lambda: self._client.smembers(self._keyset(tenant, key)))
        return self._keyed(tenant, ids, now)

    def by_key_and_search(
        self, tenant: str, key: str, vector: Vector, k: int, now: float
    ) -> tuple[list[CacheEntry], list[Candidate] | None]:
        """The exact-template set and the KNN query in one pipelined round trip (a second one
        only to read exact entries, when there are any)."""
        if self._cluster:  # FT commands are sent to the slot owner by hand: no shared pipeline
            return self.by_key(tenant, key, now), self.search(tenant, vector, k, now)
        self._ensure_index(tenant)

        def both() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            pipe.smembers(self._keyset(tenant, key))
            pipe.execute_command(*self._knn(tenant, vector, k))
            return list(pipe.execute())

        try:
            ids, reply = self._call(both)
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            if _INDEX_LOST not in str(exc).lower():
                raise
            self._ensure_index(tenant)  # lost with a restart (see _call): once more
            ids, reply = self._call(both)
        return self._keyed(tenant, ids, now), self._candidates(reply, now)

    def touch(self, tenant: str, entry_id: str) -> None:
        """Nothing to do: Redis entries live until their absolute expiry (no LRU here;
        configure ``maxmemory-policy`` for a size cap)."""

    def invalidate(self, tenant: str, tool: str | None = None) -> int:
        pattern = f"{self._prefix(tenant)}*"

        def drop() -> int:
            removed = 0
            for key in self._client.scan_iter(match=pattern, count=1000):
                raw_tools, raw_key, raw_id = self._client.hmget(key, ["tools", "key", "id"])
                tools = _text(raw_tools or b"").split(",")
                if tool is not None and tool not in tools:
                    continue
                removed += int(self._client.delete(key))
                if raw_key is not None and raw_id is not None:
                    self._client.srem(self._keyset(tenant, _text(raw_key)), raw_id)
            return removed

        return self._call(drop)

    def remove(self, tenant: str, entry_id: str) -> bool:
        key = f"{self._prefix(tenant)}{entry_id}"

        def drop() -> bool:
            raw_key = self._client.hget(key, "key")
            if raw_key is None:
                return False
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.srem(self._keyset(tenant, _text(raw_key)), entry_id)
            return bool(pipe.execute()[0])

        return self._call(drop)

    def record_failure(self, tenant: str, entry_id: str) -> int:
        key = f"{self._prefix(tenant)}{entry_id}"
        return int(self._call(lambda: self._client.eval(_RECORD_FAILURE, 1, key)))

    def count(self, tenant: str) -> int:
        pattern = f"{self._prefix(tenant)}*"
        return self._call(lambda: sum(1 for _ in self._client.scan_iter(match=pattern, count=1000)))

    # -- single flight ---------------------------------------------------------------
    @contextmanager
    def flight(self, name: str, ttl_ms: int, wait_s: float) -> Iterator[bool]:
        """A token-checked lock (SET NX PX; only the owner's token releases it).

        Yields True to the owner; a waiter yields False once the lock is released or after
        ``wait_s`` (it then re-checks the cache and may plan itself).
        """
        key = self._lock_prefix + name
        token = secrets.token_hex(16)
        owner = bool(self._call(lambda: self._client.set(key, token, nx=True, px=ttl_ms)))
        if not owner:
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and self._call(lambda: self._client.exists(key)):
                time.sleep(0.01)
            yield False
            return
        try:
            yield True
        finally:
            self._call(lambda: self._client.eval(_RELEASE, 1, key, token))

    def drop(self) -> None:
        """Delete every search index of this namespace with its entries (on a connection
        without the lookup timeout: dropping 100,000 documents takes a while)."""
        client: Any = redis_client(self._url, socket_timeout=None)

        def drop_all() -> None:
            prefix = f"{self._namespace}:idx:"
            for name in self._ft_list(client):
                if name.startswith(prefix):
                    if self._cluster:  # the index name is the command's key
                        node = client.get_node_from_key(name)
                        client.execute_command("FT.DROPINDEX", name, "DD", target_nodes=node)
                    else:
                        client.execute_command("FT.DROPINDEX", name, "DD")
            batch: list[Any] = []
            for key in client.scan_iter(match=f"{self._namespace}:k:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch.clear()
            if batch:
                client.unlink(*batch)

        try:
            self._call(drop_all)
        finally:
            client.close()
        self._ready.clear()

    def close(self) -> None:
        self._client.close()
