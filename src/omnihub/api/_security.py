"""Security headers on every response, added by one small ASGI wrapper.

The console's pages load only their own scripts and styles (htmx, uPlot and console.js are
served from ``/console/static``; htmx's inline indicator style is turned off by its config
meta tag), so ``'self'`` is the whole policy; API answers are JSON and allow nothing at all.
Swagger UI at ``/docs`` loads from a CDN with an inline script: it gets the headers but not a
CSP (the API spec itself is the product there, not the page).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
_NO_CSP_PATHS = ("/docs", "/docs/oauth2-redirect")

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def content_security_policy(path: str) -> str | None:
    """The CSP for a response to ``path`` (None: no CSP header)."""
    if path in _NO_CSP_PATHS:
        return None
    return CONSOLE_CSP if path == "/console" or path.startswith("/console/") else API_CSP


class SecurityHeadersMiddleware:
    """Adds CSP, X-Content-Type-Options, X-Frame-Options, Referrer-Policy and COOP to every
    HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = content_security_policy(str(scope.get("path", "")))
        extra = list(_COMMON)
        if csp is not None:
            extra.append((b"content-security-policy", csp.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in extra if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
