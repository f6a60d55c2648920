"""Fixtures of the planning tests: a scripted LLM endpoint on loopback per test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from llm_wire import ScriptedLLM, handler_for


@pytest.fixture
def scripted_llm() -> Iterator[ScriptedLLM]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    state = ScriptedLLM(server=server)
    server.RequestHandlerClass = handler_for(state)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
