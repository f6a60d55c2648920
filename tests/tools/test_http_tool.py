from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import threading
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from omnihub.errors import DestinationRefusedError, ToolError
from omnihub.tools import (
    HttpRequestInput,
    HttpRequestOutput,
    ToolContext,
    ToolResources,
    default_registry,
    execute_tool,
    refusal_reason,
)

HTTP = default_registry().get("http_request")
Ctx = Callable[..., ToolContext]


BIG = 32 * 1024 * 1024
BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []
    sent: dict[str, int] = {}

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if self.path == "/bomb":
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            self.wfile.write(BOMB)
            return
        self.send_header("Content-Length", str(BIG))
        self.end_headers()
        chunk = b"x" * 65536
        _Recorder.sent["big"] = 0
        try:
            for _ in range(BIG // len(chunk)):
                self.wfile.write(chunk)
                _Recorder.sent["big"] += len(chunk)
        except OSError:
            pass  # the client stopped reading, as it should

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
    # An opaque keyed hash: no tenant or goal id reaches the receiver.
    key = headers["Idempotency-Key"]
    assert key == context(resources).external_key
    assert "t1" not in key
    assert "g1" not in key
    assert len(key) == 40


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
        ("2002:7f00:1::1", "127.0.0.1"),  # 6to4 around loopback
        ("2002:a9fe:a9fe::", "169.254.169.254"),  # 6to4 around the metadata address
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo, client 127.0.0.1
        ("64:ff9b::a00:1", "10.0.0.1"),  # NAT64 around a private address
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("64:ff9b:1::1", "NAT64"),
        ("fec0::1", "site-local"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
        ("fd00::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "private"),
        ("2002:5db8:d822::1", None),  # 6to4 around a public address
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


def _resolving(*answers: str) -> Callable[[str, int], Awaitable[list[str]]]:
    """A stub resolver: the guard is tested offline, and these tests connect nowhere."""

    async def resolve(host: str, port: int) -> list[str]:
        return list(answers)

    return resolve


@pytest.mark.parametrize(
    "answers",
    [
        ("169.254.169.254",),
        ("2002:a9fe:a9fe::1",),
        ("93.184.216.34", "10.0.0.5"),  # one private answer among public ones
        ("::ffff:127.0.0.1",),
    ],
)
async def test_names_resolving_to_internal_addresses_are_refused_offline(
    sqlite_resources: ToolResources, context: Ctx, answers: tuple[str, ...]
) -> None:
    resources = replace(sqlite_resources, http_resolver=_resolving(*answers))
    with pytest.raises(DestinationRefusedError, match="resolves to") as caught:
        await execute_tool(HTTP, {"url": "http://hooks.example.test/x"}, context(resources))
    assert caught.value.non_retryable


async def test_the_body_is_streamed_and_cut_at_the_cap(
    sqlite_resources: ToolResources, context: Ctx, webhook: str
) -> None:
    resources = replace(sqlite_resources, http_allowed_hosts=frozenset({"127.0.0.1"}))
    out = await execute_tool(HTTP, {"url": f"{webhook}/big", "method": "GET"}, context(resources))
    assert out["body"] == "x" * 65536
    await asyncio.sleep(0.5)  # let the server notice the closed connection
    # The server could push only what fits in socket buffers, not the whole 32 MiB.
    assert _Recorder.sent["big"] < BIG // 4


async def test_a_gzip_bomb_is_inflated_only_up_to_the_cap(
    sqlite_resources: ToolResources, context: Ctx, webhook: str
) -> None:
    resources = replace(sqlite_resources, http_allowed_hosts=frozenset({"127.0.0.1"}))
    tracemalloc.start()
    try:
        out = await execute_tool(
            HTTP, {"url": f"{webhook}/bomb", "method": "GET"}, context(resources)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out["body"] == "\0" * 65536
    assert peak < 8 * 1024 * 1024, f"{peak} bytes at peak for a 64 KiB answer"


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"idempotency-key": "mine"}, "set by OmniHub"),
        ({"Host": "internal.example"}, "set by OmniHub"),
        ({"X-Note": "a\r\nX-Injected: 1"}, "line break"),
        ({"Bad Name": "v"}, "invalid header name"),
    ],
)
async def test_reserved_and_malformed_headers_are_refused_for_good(
    sqlite_resources: ToolResources,
    context: Ctx,
    webhook: str,
    headers: dict[str, str],
    problem: str,
) -> None:
    resources = replace(sqlite_resources, http_allowed_hosts=frozenset({"127.0.0.1"}))
    with pytest.raises(ToolError, match=problem) as caught:
        await execute_tool(HTTP, {"url": f"{webhook}/hook", "headers": headers}, context(resources))
    assert caught.value.non_retryable
    assert _Recorder.received == []


async def test_tool_errors_show_no_server_paths(
    sqlite_resources: ToolResources, context: Ctx
) -> None:
    from omnihub.tools import tool

    @tool(name="leaky")
    async def leaky(args: HttpRequestInput, ctx: ToolContext) -> HttpRequestOutput:
        raise ToolError("cannot open /srv/omnihub/secret/tools.db: denied; see http://a.test/x/y")

    with pytest.raises(ToolError) as caught:
        await execute_tool(leaky, {"url": "http://a.test/"}, context(sqlite_resources))
    assert str(caught.value) == "cannot open <path>: denied; see http://a.test/x/y"
    with pytest.raises(ToolError) as caught:
        await execute_tool(
            default_registry().get("database_write"),
            {"table": "orders", "values": {"colour": "red"}},
            context(sqlite_resources),
        )
    assert "no column named colour" in str(caught.value)
    assert str(sqlite_resources.database.path) not in str(caught.value)  # type: ignore[attr-defined]
