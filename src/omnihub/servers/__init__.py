"""Local servers OmniHub starts itself: Temporal (embedded default), PostgreSQL and Redis
(for tests and benchmarks of the scale-out backends). All bind to loopback or a Unix socket."""

from omnihub.servers._postgres import EmbeddedPostgres
from omnihub.servers._process import ServerProcess, free_port, port_open
from omnihub.servers._redis import EmbeddedRedis, EmbeddedRedisCluster
from omnihub.servers._temporal import EmbeddedTemporal, temporal_binary

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedRedisCluster",
    "EmbeddedTemporal",
    "ServerProcess",
    "free_port",
    "port_open",
    "temporal_binary",
]
