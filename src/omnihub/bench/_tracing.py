"""Tracing overhead of AgentSaga: the same goals with tracing off, then on, in one run.

Off is measured first because OpenTelemetry's tracer provider can be installed once per
process: after it, everything records. On exports over real OTLP/HTTP (so the figure includes
encoding and sending every span) to a collector stand-in in a process of its own, as a real
collector is, unless the ``OTEL_*`` variables name a collector. The stand-in decodes each
export and counts its spans and traces: proof that every goal was traced, and how many spans
a goal costs.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from temporalio.client import Client

from omnihub.runtime import traced_client
from omnihub.telemetry import configure_tracing, flush_tracing, tracing_requested

SagaRun = Callable[[Client], Awaitable[dict[str, Any]]]


class _Sink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports, keeps what they carry, and answers an empty 200 (a valid
    OTLP/HTTP success)."""

    lock = threading.Lock()
    received: Counter[str] = Counter()  # exports, bytes, spans
    # Per trace: (name, span id, parent span id) of each span.
    traces: defaultdict[bytes, list[tuple[str, bytes, bytes]]] = defaultdict(list)

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        with _Sink.lock:
            _Sink.received.update(exports=1, bytes=len(body), spans=len(spans))
            for s in spans:
                _Sink.traces[s.trace_id].append((s.name, s.span_id, s.parent_span_id))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _received() -> dict[str, Any]:
    """What the sink was sent. A goal's trace is one that holds its ``StartWorkflow`` span;
    it is connected when it has one root and every other span's parent is in it."""
    with _Sink.lock:
        goals = [
            t for t in _Sink.traces.values() if any(n.startswith("StartWorkflow") for n, *_ in t)
        ]
        names: Counter[str] = Counter(n for t in goals for n, *_ in t)

        def connected(spans: list[tuple[str, bytes, bytes]]) -> bool:
            ids = {span_id for _, span_id, _ in spans}
            return sum(1 for _, _, parent in spans if parent not in ids) == 1

        return {
            "exports": _Sink.received["exports"],
            "bytes": _Sink.received["bytes"],
            "spans": _Sink.received["spans"],
            "traces": len(_Sink.traces),
            "goal_traces": len(goals),
            "connected_goal_traces": sum(1 for t in goals if connected(t)),
            "spans_per_goal": round(sum(names.values()) / len(goals), 2) if goals else None,
            "span_names": dict(sorted(names.items())),
        }


def _serve_sink() -> None:
    """The collector stand-in's process: print its URL, serve until stdin closes, then print
    what it received as one JSON line."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    print(f"http://{host!s}:{port}", flush=True)
    sys.stdin.read()
    server.shutdown()
    server.server_close()
    print(json.dumps(_received()), flush=True)


@contextlib.contextmanager
def _sink(received: dict[str, Any]) -> Iterator[str]:
    """The collector stand-in in a child process; its URL. On leaving, ``received`` holds
    what it was sent."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnihub.bench._tracing"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        received.update(json.loads(proc.stdout.readline() or "{}"))
        proc.stdout.close()
        proc.wait(10)


async def compare_tracing(client: Client, run: SagaRun) -> dict[str, Any]:
    """``run`` with tracing off, then on; throughput of each and the overhead in percent."""
    if tracing_requested():
        # The provider is already on for this process (or will be): off cannot be measured.
        configure_tracing("omnihub-bench")
    off = await run(client)
    received: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        if not tracing_requested(env):
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = stack.enter_context(_sink(received))
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
        + ("a collector stand-in process" if received else "the configured collector"),
        # The SDK's default samples every trace; an operator may choose a ratio instead.
        "sampler": os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        # Counted by the sink (None with a collector of the operator's): every goal one
        # connected trace, and what each goal's trace holds.
        "sink": received or None,
    }


if __name__ == "__main__":
    _serve_sink()
