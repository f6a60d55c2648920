"""Reaching Temporal: the embedded dev server OmniHub supervises itself, or a cluster.

With ``OMNIHUB_TEMPORAL_ADDRESS`` unset, every OmniHub process on the machine shares one dev
server under ``$OMNIHUB_HOME/temporal``: the first one starts it (its port is kept in
``server.json`` so the address never changes and workflows survive restarts), the others
find it there. With the address set, OmniHub connects to that cluster with the namespace,
TLS and API key from the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig

from omnihub.config import Settings, private_dir, private_file
from omnihub.crypto import encrypted_data_converter, load_key_ring
from omnihub.errors import ConfigurationError, ServerError
from omnihub.servers import EmbeddedTemporal, free_port, port_open

_HOST = "127.0.0.1"


class TemporalSupervisor:
    """Starts the embedded Temporal dev server when none runs, and restarts it if it dies."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._state_file = data_dir / "server.json"
        self._server: EmbeddedTemporal | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        private_dir(self.data_dir)  # 0700: server.json names a port that accepts approvals
        with private_file(self.data_dir / "server.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _recorded_port(self) -> int | None:
        try:
            return int(json.loads(self._state_file.read_text())["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def address(self) -> str | None:
        port = self._recorded_port()
        return f"{_HOST}:{port}" if port else None

    def ensure(self, timeout: float = 60.0) -> str:
        """The address of a running dev server, starting one if none answers."""
        with self._locked():
            port = self._recorded_port()
            if port is not None and port_open(_HOST, port):
                return f"{_HOST}:{port}"
            if self._server is not None:
                # The server this supervisor started has died: reap its process, or the
                # dropped Popen object warns (ResourceWarning) and leaves a zombie behind.
                self._server.stop(kill=True)
                self._server = None
            port = port or free_port(_HOST)
            server = EmbeddedTemporal(self.data_dir, host=_HOST, port=port)
            server.start(timeout)
            self._server = server
            private_file(self._state_file).write_text(json.dumps({"port": port, "pid": server.pid}))
            return server.address

    @property
    def owns_server(self) -> bool:
        return self._server is not None

    async def watch(self, interval: float = 2.0) -> None:
        """Restart the server whenever it stops answering (until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            port = self._recorded_port()
            if port is None or not port_open(_HOST, port):
                await asyncio.to_thread(self.ensure)

    def stop(self) -> None:
        """Stop the server if this supervisor started it."""
        if self._server is not None:
            self._server.stop()
            self._server = None


def _tls(settings: Settings) -> TLSConfig | bool:
    files = (
        settings.temporal_tls_ca_file,
        settings.temporal_tls_cert_file,
        settings.temporal_tls_key_file,
    )
    if not any(files):
        return settings.temporal_tls or settings.temporal_api_key is not None
    try:
        ca, cert, key = (path.read_bytes() if path else None for path in files)
    except OSError as exc:
        raise ConfigurationError(f"cannot read a Temporal TLS file: {exc}") from exc
    return TLSConfig(server_root_ca_cert=ca, client_cert=cert, client_private_key=key)


async def connect_temporal(
    settings: Settings, supervisor: TemporalSupervisor | None = None
) -> Client:
    """A Temporal client for the configured cluster, or for the embedded dev server (started
    through ``supervisor``, by default one under ``$OMNIHUB_HOME/temporal``).

    Every payload goes through OmniHub's encryption codec with the keys of the settings, so
    the server (and anyone who reaches it) sees only ciphertext; workers built on this client
    refuse payloads that were not encrypted with a known key.
    """
    ring = await asyncio.to_thread(load_key_ring, settings)
    if settings.temporal_address:
        address, tls = settings.temporal_address, _tls(settings)
    else:
        supervisor = supervisor or TemporalSupervisor(settings.home / "temporal")
        address, tls = await asyncio.to_thread(supervisor.ensure), False
    try:
        return await Client.connect(
            address,
            namespace=settings.temporal_namespace,
            tls=tls,
            api_key=(
                settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
            ),
            data_converter=encrypted_data_converter(ring),
        )
    except RuntimeError as exc:
        raise ServerError(f"cannot connect to Temporal at {address}: {exc}") from exc
