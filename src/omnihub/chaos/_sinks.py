"""The chaos run's real receivers of side effects, on loopback: an HTTP server that records
every request with its ``Idempotency-Key`` (and acts once per key, as a deduplicating
receiver does), and an SMTP server (aiosmtpd) that records every message it accepts."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from omnihub.errors import ConfigurationError
from omnihub.servers import free_port


@dataclass
class SinkLog:
    """Every delivery a sink saw: (idempotency key, goal, step), in arrival order."""

    deliveries: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, goal: str, step: str) -> bool:
        """Record a delivery; True when its key is new (the receiver acts)."""
        with self.lock:
            new = all(k != key for k, _, _ in self.deliveries)
            self.deliveries.append((key, goal, step))
            return new

    def effects(self) -> Counter[tuple[str, str]]:
        """Effects applied per (goal, step): distinct keys, since the receiver deduplicates
        on the key. More than one means the same step acted under two keys."""
        with self.lock:
            keys = {(key, goal, step) for key, goal, step in self.deliveries}
        return Counter((goal, step) for _, goal, step in keys)

    def redelivered(self) -> int:
        """Deliveries repeated with a key already seen (retries the receiver absorbed)."""
        with self.lock:
            return len(self.deliveries) - len({k for k, _, _ in self.deliveries})


class HttpSink:
    """``POST /effect`` with a JSON body ``{"goal": …, "step": …}``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.log = SinkLog()
        log = self.log

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotency-Key") or ""
                new = log.add(key, str(body.get("goal")), str(body.get("step")))
                self.send_response(201 if new else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"new": new}).encode())

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the log above is the record

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/effect"

    def start(self) -> HttpSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SmtpSink:
    """An aiosmtpd server; each message's ``X-Idempotency-Key`` and ``Subject`` (``goal/step``)
    are recorded."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigurationError("the chaos suite's SMTP sink needs aiosmtpd") from exc
        self.log = SinkLog()
        log = self.log

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = message_from_bytes(envelope.original_content or envelope.content)
                goal, _, step = str(message.get("Subject", "")).partition("/")
                log.add(str(message.get("X-Idempotency-Key", "")), goal, step)
                return "250 OK"

        self._controller = Controller(Handler(), hostname=host, port=free_port(host))

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def host(self) -> str:
        return str(self._controller.hostname)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
