"""Tracing overhead of AgentSaga: the same goals with tracing off, then on, in one run.

Off is measured first because OpenTelemetry's tracer provider can be installed once per
process: after it, everything records. On exports over real OTLP/HTTP to a loopback sink
that answers every export (so the figure includes encoding and sending spans), unless the
``OTEL_*`` variables name a collector.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from temporalio.client import Client

from omnihub.runtime import traced_client
from omnihub.telemetry import configure_tracing, flush_tracing, tracing_requested

SagaRun = Callable[[Client], Awaitable[dict[str, Any]]]


class _Sink(BaseHTTPRequestHandler):
    """Accepts and discards OTLP exports (an empty 200 is a valid OTLP/HTTP success)."""

    received = [0, 0]  # exports, bytes: proof that spans were really sent

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        _Sink.received[0] += 1
        _Sink.received[1] += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def compare_tracing(client: Client, run: SagaRun) -> dict[str, Any]:
    """``run`` with tracing off, then on; throughput of each and the overhead in percent."""
    if tracing_requested():
        # The provider is already on for this process (or will be): off cannot be measured.
        configure_tracing("omnihub-bench")
    off = await run(client)
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        if not tracing_requested(env):
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = stack.enter_context(_sink())
        configure_tracing("omnihub-bench", env)
        on = await run(traced_client(client))
        flush_tracing()
    off_rate, on_rate = off["goals_per_s"], on["goals_per_s"]
    return {
        "off": off,
        "on": on,
        "throughput_overhead_pct": round((off_rate - on_rate) / off_rate * 100, 2)
        if off_rate
        else None,
        "exporter": "otlp/http to "
        + ("a loopback sink" if not tracing_requested() else "the configured collector"),
        "sink_exports": _Sink.received[0],
        "sink_bytes": _Sink.received[1],
    }
