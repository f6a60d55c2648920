"""http_request: webhooks through httpx, behind an SSRF guard applied after DNS resolution.

The guard resolves the host once, refuses loopback, private, link-local, multicast, reserved
and cloud-metadata addresses (unless the host is allowed explicitly), and then connects to the
address it checked, so a second DNS answer cannot redirect the request (DNS rebinding).
The step's idempotency key travels in the ``Idempotency-Key`` header for receivers that
deduplicate; a receiver that does not may see a retried request twice.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Literal

import httpx
from pydantic import BaseModel, Field

from omnihub import telemetry
from omnihub.errors import DestinationRefusedError, ToolError
from omnihub.tools._spec import RiskLane, ToolContext, tool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints that are not all covered by the link-local check.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("fd00:ec2::254"),
}
_BODY_LIMIT = 64 * 1024


class HttpRequestInput(BaseModel):
    url: str = Field(description="An http or https URL.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: dict[str, object] | list[object] | None = Field(None, description="JSON body.")


class HttpRequestOutput(BaseModel):
    status_code: int
    body: str = Field(description="The response body, cut at 64 KiB.")


def refusal_reason(address: IPAddress) -> str | None:
    """Why the guard refuses ``address``, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal_reason(address.ipv4_mapped)
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


async def resolve_destination(host: str, port: int, allowed_hosts: frozenset[str]) -> str:
    """The checked IP address to connect to for ``host``; raises DestinationRefusedError."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ToolError(f"cannot resolve {host!r}: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:  # pragma: no cover - getaddrinfo raises instead of answering nothing
        raise ToolError(f"cannot resolve {host!r}")
    if host.lower() not in allowed_hosts:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                raise DestinationRefusedError(host, f"it resolves to {address}, {reason}")
    return str(addresses[0])


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
    address = await resolve_destination(url.host, port, ctx.resources.http_allowed_hosts)
    ip_host = f"[{address}]" if ":" in address else address
    headers = {
        **args.headers,
        "Host": url.netloc.decode("ascii"),
        "Idempotency-Key": ctx.idempotency_key,
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
            async with httpx.AsyncClient(
                timeout=ctx.resources.http_timeout_s, follow_redirects=False
            ) as client:
                response = await client.request(
                    args.method,
                    url.copy_with(host=ip_host.strip("[]")),
                    headers=headers,
                    json=args.json_body,
                    extensions={"sni_hostname": url.host},
                )
            current.set_attribute("http.response.status_code", response.status_code)
    except httpx.HTTPError as exc:
        raise ToolError(f"{args.method} {args.url} failed: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise ToolError(f"{args.method} {args.url} answered {response.status_code}")
    if response.status_code >= 400:
        raise ToolError(
            f"{args.method} {args.url} answered {response.status_code}", non_retryable=True
        )
    return HttpRequestOutput(status_code=response.status_code, body=response.text[:_BODY_LIMIT])
