"""Console sign-in: the API key kept in an HttpOnly cookie, checked like every API request.

The browser never sees the key again after the login form (the cookie is HttpOnly, SameSite
Strict and scoped to ``/console``), and every console request goes through the same key store
and per-tenant rate limit as the API. Forms that change something carry a CSRF token derived
from the key's signing secret, so another site cannot post on the user's behalf.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request

from omnihub.auth import Principal, Role
from omnihub.errors import AuthenticationError, ConfigurationError, RateLimitedError
from omnihub.runtime import Services

COOKIE_NAME = "omnihub_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600
_CSRF_CONTEXT = b"omnihub-console-csrf-v1"


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


def csrf_token_for(principal: Principal) -> str:
    return hmac.new(principal.signing_secret, _CSRF_CONTEXT, hashlib.sha256).hexdigest()


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


async def current_user(request: Request) -> ConsoleUser:
    """The signed-in user, after the same checks as an API request (key, rate limit)."""
    services = services_of(request)
    key = request.cookies.get(COOKIE_NAME)
    if not key:
        raise login_redirect(request)
    try:
        principal = check_key(services, key)
    except AuthenticationError:
        raise login_redirect(request) from None
    request.state.tenant_id = principal.tenant_id
    decision = await services.rate_limiter.acquire(principal.tenant_id)
    if not decision.allowed:
        raise RateLimitedError(principal.tenant_id, decision.retry_after)
    return ConsoleUser(principal, csrf_token_for(principal))


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
