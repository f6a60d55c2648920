"""Fixtures of the telemetry tests: a loopback OTLP/HTTP receiver decoding the real protobuf,
and a loopback webhook that records the headers it was sent."""

from __future__ import annotations

import contextlib
import gzip
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

# The scripted LLM endpoints live with the planning tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "planning"))


@contextlib.contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """A loopback HTTP server on a free port, in a thread, for the duration."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector received it (ids in hex)."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    status_code: int
    attributes: dict[str, Any]


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    spans: list[ReceivedSpan] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return None if kind is None else getattr(any_value, kind)


def _decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    found = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                found.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name")),
                        name=s.name,
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                        kind=s.kind,
                        status_code=s.status.code,
                        attributes={a.key: _value(a.value) for a in s.attributes},
                    )
                )
    return found


@pytest.fixture
def otlp_receiver() -> Iterator[Receiver]:
    with _serving(BaseHTTPRequestHandler) as server:
        yield from _receiver(server)


def _receiver(server: ThreadingHTTPServer) -> Iterator[Receiver]:
    state = Receiver(server=server)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            status = 404
            if self.path == "/v1/traces":
                spans = _decode(body)
                with state.lock:
                    state.spans.extend(spans)
                status = 200
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(status)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    yield state


@dataclass
class Webhook:
    server: ThreadingHTTPServer
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with _serving(BaseHTTPRequestHandler) as server:
        yield from _webhook(server)


def _webhook(server: ThreadingHTTPServer) -> Iterator[Webhook]:
    state = Webhook(server=server)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            body = b'{"error": "refused"}'
            self.send_response(state.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    yield state


@pytest.fixture
def scripted_llm() -> Iterator[Any]:
    from llm_wire import ScriptedLLM, handler_for

    with _serving(BaseHTTPRequestHandler) as server:
        state = ScriptedLLM(server=server)
        server.RequestHandlerClass = handler_for(state)
        yield state
