"""The Redis plan index over TLS (``rediss://``), the CA given in the URL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tls import TLSTerminator, make_certificates

from omnihub.cache import CacheEntry, RedisPlanIndex
from omnihub.errors import StoreUnavailableError
from omnihub.servers import EmbeddedRedis


def test_the_redis_index_works_over_tls_with_the_ca_from_the_url(
    tmp_path: Path, redis_server: EmbeddedRedis, make_entry: Callable[..., CacheEntry]
) -> None:
    ca, certificate, key = make_certificates(tmp_path / "tls")
    with TLSTerminator(redis_server.port, certificate, key) as tls:
        url = f"rediss://127.0.0.1:{tls.port}/0?ssl_ca_certs={ca}"
        index = RedisPlanIndex(url, namespace=f"tls-{uuid.uuid4().hex[:8]}")
        vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
        entry = make_entry("acme", "k1")
        index.add(entry, vector)
        found = index.search("acme", vector, 3, time.time())
        assert [c.entry.id for c in found] == [entry.id]
        assert index.remove("acme", entry.id)
        index.drop()
        index.close()


def test_a_server_certificate_from_another_ca_is_refused(
    tmp_path: Path, redis_server: EmbeddedRedis, make_entry: Callable[..., CacheEntry]
) -> None:
    _, certificate, key = make_certificates(tmp_path / "server")
    other_ca, _, _ = make_certificates(tmp_path / "other")
    with TLSTerminator(redis_server.port, certificate, key) as tls:
        url = f"rediss://127.0.0.1:{tls.port}/0?ssl_ca_certs={other_ca}"
        index = RedisPlanIndex(url, namespace=f"tls-{uuid.uuid4().hex[:8]}")
        with pytest.raises(StoreUnavailableError, match="certificate verify failed"):
            index.add(make_entry("acme", "k1"), np.ones(384, dtype=np.float32))
        index.close()
