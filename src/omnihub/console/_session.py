"""Console sign-in: a server-side session per login, named by a random token in a cookie.

The API key is typed once into the login form and never stored in the browser: the cookie
(HttpOnly, SameSite Strict, scoped to ``/console``) holds only a session token, which signing
out, the session's end, or revoking the key (admin route) makes worthless. Sessions live in
the services' session store (``OMNIHUB_API_SESSIONS_URL``: beside the API keys by default,
or Redis), so every API process sharing it honours a sign-in or a sign-out made through any
of them. Every console request goes through the same key checks and per-key rate limit as
the API. The login form carries a token that must match a cookie set with the form (another
site can neither read nor set it), and every form that changes something, sign-out included,
carries the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request

from omnihub.auth import BrowserSession, Principal, Role, SessionStore, acquire_for_key
from omnihub.errors import AuthenticationError, ConfigurationError
from omnihub.runtime import Services

COOKIE_NAME = "omnihub_console"
LOGIN_COOKIE_NAME = "omnihub_console_login"
COOKIE_PATH = "/console"
_CSRF_CONTEXT = b"omnihub-console-csrf-v1"


def csrf_token_for(token: str) -> str:
    """The CSRF token of the session named by ``token``: derived from it (one-way), so no
    store keeps it, every API process computes the same one, and it reveals nothing of the
    cookie it is bound to."""
    return hmac.new(token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in caller of one console request."""

    principal: Principal
    csrf_token: str

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def can_operate(self) -> bool:
        """Operators and admins may submit goals and decide approvals; viewers only read."""
        return self.principal.role.allows(Role.OPERATOR)

    @property
    def actor(self) -> str:
        return f"key:{self.principal.key_id}"


def services_of(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise ConfigurationError("the console is starting up; services are not ready yet")
    return services


def check_key(services: Services, key: str) -> Principal:
    """The principal of ``key`` for a console session; AuthenticationError when the key is
    unknown, revoked, malformed, or must sign its requests (a browser cannot)."""
    principal = services.keys.authenticate(key.strip())
    if principal.require_signature:
        raise AuthenticationError(
            "this key must sign its requests, which a browser cannot do; use another key"
        )
    return principal


def login_redirect(request: Request) -> HTTPException:
    """Send the browser to the login page (htmx requests get an ``HX-Redirect``)."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = f"{COOKIE_PATH}/login?next={quote(target, safe='')}"
    if request.headers.get("HX-Request"):
        return HTTPException(401, "sign in again", headers={"HX-Redirect": location})
    return HTTPException(303, "sign in first", headers={"Location": location})


def sessions_of(request: Request) -> SessionStore:
    return services_of(request).sessions


async def _key_still_valid(services: Services, session: BrowserSession) -> bool:
    keys = await asyncio.to_thread(services.keys.list, session.tenant_id)
    return any(k.key_id == session.key_id and k.revoked_at is None for k in keys)


async def current_user(request: Request) -> ConsoleUser:
    """The signed-in user of the session cookie, after the same checks as an API request
    (a key that is still valid, the key's and the tenant's rate limits)."""
    services = services_of(request)
    sessions = services.sessions
    token = request.cookies.get(COOKIE_NAME)
    session = await sessions.get(token) if token else None
    if session is None or token is None:
        raise login_redirect(request)
    if await sessions.due_for_check(token) and not await _key_still_valid(services, session):
        await sessions.close(token)
        raise login_redirect(request)
    request.state.tenant_id = session.tenant_id
    share: float = request.app.state.settings.api_rate_limit_key_share
    await acquire_for_key(services.rate_limiter, session, share)
    # A console key never signs (check_key refuses one that must), so the session store
    # keeps no signing secret and the principal carries none.
    principal = Principal(session.key_id, session.tenant_id, session.role, False, b"")
    return ConsoleUser(principal, csrf_token_for(token))


def check_csrf(user: ConsoleUser, token: str) -> None:
    if not hmac.compare_digest(user.csrf_token, token or ""):
        raise HTTPException(403, "the form has expired; reload the page and try again")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a console path (no open redirect)."""
    if (
        target
        and target.startswith(COOKIE_PATH + "/")
        and "//" not in target
        and "\\" not in target
    ):
        return target
    return f"{COOKIE_PATH}/goals"
