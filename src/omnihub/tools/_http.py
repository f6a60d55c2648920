"""http_request: webhooks through httpx, behind an SSRF guard applied after DNS resolution.

The guard resolves the host once, refuses every address that is not globally routable,
including public-looking IPv6 forms that carry a private IPv4 address (IPv4-mapped, 6to4,
Teredo, NAT64), unless the host is allowed explicitly, and then connects to the address it
checked, so a second DNS answer cannot redirect the request (DNS rebinding).

The response is streamed: reading stops at 64 KiB of (decompressed) body, and gzip or deflate
is decompressed here with a bound, so a huge body or a compression bomb costs at most the
cap in memory. Receivers that deduplicate get an opaque ``Idempotency-Key`` (a keyed hash of
the step, never the tenant or goal id); a receiver that does not may see a retried request
twice.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import zlib
from collections.abc import Awaitable, Callable
from typing import Literal

import httpx
from pydantic import BaseModel, Field, field_validator

from omnihub import telemetry
from omnihub.errors import DestinationRefusedError, ToolError
from omnihub.tools._spec import RiskLane, ToolContext, tool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolves (host, port) to IP address strings; the default asks the system (getaddrinfo)."""

# Cloud metadata endpoints that are not all covered by the link-local check.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("fd00:ec2::254"),
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_BODY_LIMIT = 64 * 1024
_CHUNK = 16 * 1024
# Headers OmniHub sets itself: a tenant may not add a second Idempotency-Key, or move the
# request to another virtual host or framing.
_RESERVED_HEADERS = frozenset(
    {"idempotency-key", "host", "content-length", "transfer-encoding", "connection"}
)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class HttpRequestInput(BaseModel):
    url: str = Field(description="An http or https URL.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: dict[str, object] | list[object] | None = Field(None, description="JSON body.")

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _TOKEN.match(name):
                raise ValueError(f"invalid header name {name!r}")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"the header {name!r} is set by OmniHub")
            if any(c in value for c in "\r\n\0"):
                raise ValueError(f"the value of header {name!r} contains a line break or NUL")
        return headers


class HttpRequestOutput(BaseModel):
    status_code: int
    body: str = Field(description="The response body, cut at 64 KiB.")


def refusal_reason(address: IPAddress) -> str | None:
    """Why the guard refuses ``address``, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = refusal_reason(embedded)
            return f"it embeds {embedded}, {inner}" if inner else None
        if address in _SITE_LOCAL:
            return "a site-local address"
        if address in _NAT64_LOCAL:
            return "a local-use NAT64 address"
    if address in _METADATA:
        return "a cloud metadata address"
    for reason, flag in (
        ("an unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("not a global address", not address.is_global),
    ):
        if flag:
            return reason
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to its destination: IPv4-mapped, 6to4,
    Teredo (the client address) or well-known NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer for ``host`` (getaddrinfo)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_destination(
    host: str, port: int, allowed_hosts: frozenset[str], resolver: Resolver | None = None
) -> str:
    """The checked IP address to connect to for ``host``; raises DestinationRefusedError.
    Every answer is checked, so a name that also resolves to a private address is refused."""
    try:
        answers = await (resolver or system_resolver)(host, port)
    except OSError as exc:
        raise ToolError(f"cannot resolve {host!r}: {exc}") from exc
    try:
        addresses = [ipaddress.ip_address(answer.split("%", 1)[0]) for answer in answers]
    except ValueError as exc:
        raise ToolError(f"cannot resolve {host!r}: {exc}") from exc
    if not addresses:
        raise ToolError(f"cannot resolve {host!r}")
    if host.lower() not in allowed_hosts:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                raise DestinationRefusedError(host, f"it resolves to {address}, {reason}")
    return str(addresses[0])


def _decompressor(encoding: str) -> zlib._Decompress | None:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise ToolError(f"unsupported Content-Encoding {encoding!r}", non_retryable=True)


async def read_capped(response: httpx.Response, limit: int = _BODY_LIMIT) -> bytes:
    """At most ``limit`` bytes of the decoded body: compressed input is inflated with a
    bound (``max_length``), and reading stops as soon as the cap is reached."""
    decoder = _decompressor(response.headers.get("content-encoding", ""))
    body = bytearray()
    try:
        async for chunk in response.aiter_raw(_CHUNK):
            if decoder is None:
                body += chunk[: limit - len(body)]
            else:
                body += decoder.decompress(chunk, limit - len(body))
            if len(body) >= limit:
                break
    except zlib.error as exc:
        raise ToolError(f"the response body is not valid compressed data: {exc}") from exc
    return bytes(body)


@tool(name="http_request", side_effect=True, risk=RiskLane.YELLOW)
async def http_request(args: HttpRequestInput, ctx: ToolContext) -> HttpRequestOutput:
    """Send an HTTP request (a webhook) to a public address and return the response."""
    try:
        url = httpx.URL(args.url)
    except httpx.InvalidURL as exc:
        raise ToolError(f"invalid URL {args.url!r}: {exc}", non_retryable=True) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ToolError(
            f"only http and https URLs are allowed, not {args.url!r}", non_retryable=True
        )
    port = url.port or (443 if url.scheme == "https" else 80)
    resources = ctx.resources
    address = await resolve_destination(
        url.host, port, resources.http_allowed_hosts, resources.http_resolver
    )
    headers = {
        **args.headers,
        "Host": url.netloc.decode("ascii"),
        "Accept-Encoding": "gzip, deflate",
        "Idempotency-Key": ctx.external_key,
    }
    try:
        # obs hook: a client span, and its traceparent sent so the remote server joins the trace
        with telemetry.span(
            "http.request",
            {
                "http.request.method": args.method,
                "server.address": url.host,
                "server.port": port,
                "url.path": url.path,
            },
        ) as current:
            telemetry.inject_traceparent(headers)
            async with (
                httpx.AsyncClient(
                    timeout=resources.http_timeout_s, follow_redirects=False
                ) as client,
                client.stream(
                    args.method,
                    url.copy_with(host=address),
                    headers=headers,
                    json=args.json_body,
                    extensions={"sni_hostname": url.host},
                ) as response,
            ):
                status = response.status_code
                body = await read_capped(response) if status < 400 else b""
                charset = response.charset_encoding or "utf-8"
            current.set_attribute("http.response.status_code", status)
    except httpx.LocalProtocolError as exc:
        # The request itself cannot be sent (a malformed header or URL): retrying cannot help.
        raise ToolError(
            f"{args.method} {args.url}: invalid request: {exc}", non_retryable=True
        ) from exc
    except httpx.HTTPError as exc:
        raise ToolError(f"{args.method} {args.url} failed: {exc}") from exc
    if status >= 500 or status == 429:
        raise ToolError(f"{args.method} {args.url} answered {status}")
    if status >= 400:
        raise ToolError(f"{args.method} {args.url} answered {status}", non_retryable=True)
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    return HttpRequestOutput(status_code=status, body=text)
