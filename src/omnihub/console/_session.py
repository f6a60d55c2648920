"""Console sign-in: a server-side session per login, named by a random token in a cookie.

The API key is typed once into the login form and never stored in the browser: the cookie
(HttpOnly, SameSite Strict, scoped to ``/console``) holds only a session token, which signing
out, the session's end, or revoking the key (admin route) makes worthless. Every console
request goes through the same key checks and per-key rate limit as the API. The login form
carries a token that must match a cookie set with the form (another site can neither read
nor set it), and every form that changes something, sign-out included, carries the session's
CSRF token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request

from omnihub.auth import Principal, Role, acquire_for_key
from omnihub.errors import AuthenticationError, ConfigurationError
from omnihub.runtime import Services

COOKIE_NAME = "omnihub_console"
LOGIN_COOKIE_NAME = "omnihub_console_login"
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600
# How often a session re-reads its key's state, so a key revoked by another process (the
# CLI, another API replica) ends the session within this many seconds.
RECHECK_SECONDS = 30.0


@dataclass
class ConsoleSession:
    """One signed-in browser: its principal, CSRF token, end, and last key check."""

    principal: Principal
    csrf_token: str
    expires_at: float
    checked_at: float


class ConsoleSessions:
    """Console sessions in this process's memory, keyed by the SHA-256 of their token (a
    memory dump shows no usable cookie). Several API replicas need sticky sessions."""

    def __init__(
        self,
        *,
        lifetime: float = SESSION_SECONDS,
        max_sessions: int = 100_000,
        recheck: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self.recheck = recheck
        self._clock = clock
        self._sessions: dict[str, ConsoleSession] = {}

    @staticmethod
    def _id(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def open(self, principal: Principal) -> str:
        """A new session for ``principal``; returns the token for the cookie."""
        now = self._clock()
        if len(self._sessions) >= self.max_sessions:
            self._sessions = {k: v for k, v in self._sessions.items() if v.expires_at > now}
        token = secrets.token_urlsafe(32)
        self._sessions[self._id(token)] = ConsoleSession(
            principal, secrets.token_hex(32), now + self.lifetime, now
        )
        return token

    def get(self, token: str) -> ConsoleSession | None:
        """The live session of ``token``, or None (unknown, ended or expired)."""
        key = self._id(token)
        session = self._sessions.get(key)
        if session is not None and session.expires_at <= self._clock():
            del self._sessions[key]
            return None
        return session

    def due_for_check(self, session: ConsoleSession) -> bool:
        """Whether the session's key should be checked again (and marks it checked)."""
        now = self._clock()
        if now - session.checked_at < self.recheck:
            return False
        session.checked_at = now
        return True

    def close(self, token: str) -> None:
        """End the session of ``token`` (sign-out)."""
        self._sessions.pop(self._id(token), None)

    def revoke_key(self, key_id: str) -> int:
        """End every session signed in with the key ``key_id``; how many ended."""
        ended = [k for k, v in self._sessions.items() if v.principal.key_id == key_id]
        for k in ended:
            del self._sessions[k]
        return len(ended)


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


def sessions_of(request: Request) -> ConsoleSessions:
    sessions: ConsoleSessions = request.state.console.sessions
    return sessions


async def _key_still_valid(services: Services, principal: Principal) -> bool:
    keys = await asyncio.to_thread(services.keys.list, principal.tenant_id)
    return any(k.key_id == principal.key_id and k.revoked_at is None for k in keys)


async def current_user(request: Request) -> ConsoleUser:
    """The signed-in user of the session cookie, after the same checks as an API request
    (a key that is still valid, the key's and the tenant's rate limits)."""
    services = services_of(request)
    sessions = sessions_of(request)
    token = request.cookies.get(COOKIE_NAME)
    session = sessions.get(token) if token else None
    if session is None or token is None:
        raise login_redirect(request)
    if sessions.due_for_check(session) and not await _key_still_valid(services, session.principal):
        sessions.close(token)
        raise login_redirect(request)
    principal = session.principal
    request.state.tenant_id = principal.tenant_id
    share: float = request.app.state.settings.api_rate_limit_key_share
    await acquire_for_key(services.rate_limiter, principal, share)
    return ConsoleUser(principal, session.csrf_token)


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
