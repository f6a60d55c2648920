"""Observability wired at the composition root: each process configures logging and tracing
once, traces its Temporal client, and (workers) serves its metrics."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.client import Client

from omnihub.config import Settings
from omnihub.telemetry import (
    MetricsServer,
    configure_process,
    install_temporal_metrics,
    temporal_interceptors,
)


def configure_observability(settings: Settings, service_name: str) -> bool:
    """Logging and tracing of this process (``omnihub serve``, ``worker``, ``up``); True
    when tracing is on."""
    return configure_process(settings, service_name)


def traced_client(client: Client) -> Client:
    """``client`` with Temporal's OpenTelemetry interceptor when tracing is on (workers built
    from it trace workflows and activities too), else ``client`` itself."""
    interceptors = temporal_interceptors()
    if not interceptors:
        return client
    config = client.config()
    config["interceptors"] = [*config["interceptors"], *interceptors]
    return Client(**config)


@contextlib.contextmanager
def worker_metrics(settings: Settings) -> Iterator[MetricsServer | None]:
    """Serve the runtime metrics on ``worker_metrics_port`` (when set) while the worker runs,
    and the Temporal SDK's on ``temporal_metrics_port`` (when set; before connecting)."""
    host = settings.worker_metrics_host
    if settings.temporal_metrics_port is not None:
        install_temporal_metrics(host, settings.temporal_metrics_port)
    server = None
    if settings.worker_metrics_port is not None:
        server = MetricsServer(host, settings.worker_metrics_port)
    try:
        yield server
    finally:
        if server is not None:
            server.close()
