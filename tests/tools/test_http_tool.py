from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from omnihub.errors import DestinationRefusedError, ToolError
from omnihub.tools import ToolContext, ToolResources, default_registry, execute_tool, refusal_reason

HTTP = default_registry().get("http_request")
Ctx = Callable[..., ToolContext]


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"null")
        _Recorder.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status = {"/fail": 503, "/missing": 404}.get(self.path, 200)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"no")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    """A scripted webhook receiver on loopback."""
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


async def test_an_allowed_host_gets_the_request_with_the_idempotency_key(
    sqlite_resources: ToolResources, context: Ctx, webhook: str
) -> None:
    resources = replace(sqlite_resources, http_allowed_hosts=frozenset({"127.0.0.1"}))
    out = await execute_tool(
        HTTP, {"url": f"{webhook}/hook", "json_body": {"a": 1}}, context(resources)
    )
    assert out == {"status_code": 200, "body": "ok"}
    again = await execute_tool(
        HTTP, {"url": f"{webhook}/hook", "json_body": {"a": 1}}, context(resources)
    )
    assert again == out
    assert len(_Recorder.received) == 1  # the ledger stopped the second send
    request = _Recorder.received[0]
    assert request["body"] == {"a": 1}
    headers = request["headers"]
    assert isinstance(headers, dict)
    assert headers["Idempotency-Key"] == "t1/g1/s1/do"


async def test_loopback_is_refused_without_an_explicit_allowance(
    sqlite_resources: ToolResources, context: Ctx, webhook: str
) -> None:
    with pytest.raises(DestinationRefusedError, match="loopback") as caught:
        await execute_tool(HTTP, {"url": f"{webhook}/hook"}, context(sqlite_resources))
    assert caught.value.non_retryable
    with pytest.raises(DestinationRefusedError, match="loopback"):
        await execute_tool(
            HTTP, {"url": webhook.replace("127.0.0.1", "localhost")}, context(sqlite_resources)
        )
    assert _Recorder.received == []


async def test_server_errors_retry_and_client_errors_do_not(
    sqlite_resources: ToolResources, context: Ctx, webhook: str
) -> None:
    resources = replace(sqlite_resources, http_allowed_hosts=frozenset({"127.0.0.1"}))
    with pytest.raises(ToolError, match="503") as caught:
        await execute_tool(HTTP, {"url": f"{webhook}/fail"}, context(resources, "a"))
    assert not caught.value.non_retryable
    with pytest.raises(ToolError, match="404") as caught:
        await execute_tool(HTTP, {"url": f"{webhook}/missing"}, context(resources, "b"))
    assert caught.value.non_retryable


async def test_bad_urls_and_unreachable_hosts_are_tool_errors(
    sqlite_resources: ToolResources, context: Ctx
) -> None:
    resources = replace(sqlite_resources, http_allowed_hosts=frozenset({"127.0.0.1"}))
    with pytest.raises(ToolError, match="only http and https") as caught:
        await execute_tool(HTTP, {"url": "file:///etc/passwd"}, context(resources))
    assert caught.value.non_retryable
    with pytest.raises(ToolError, match="cannot resolve"):
        await execute_tool(HTTP, {"url": "http://no-such-host.invalid/"}, context(resources))
    with pytest.raises(ToolError, match="failed") as caught:
        await execute_tool(HTTP, {"url": "http://127.0.0.1:1/"}, context(resources))
    assert not caught.value.non_retryable
    with pytest.raises(ToolError, match="invalid URL"):
        await execute_tool(HTTP, {"url": "http://[::1"}, context(resources))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "metadata"),
        ("fe80::1", "link-local"),
        ("100.100.100.200", "metadata"),
        ("::ffff:127.0.0.1", "loopback"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not a global"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_the_ssrf_guard_classifies_addresses(address: str, reason: str | None) -> None:
    found = refusal_reason(ipaddress.ip_address(address))
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found
