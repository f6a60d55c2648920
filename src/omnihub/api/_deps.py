"""Request dependencies: who is calling (API key, optional signature), rate limit, role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from omnihub.api._metrics import ApiMetrics
from omnihub.auth import (
    Principal,
    Role,
    SignatureVerifier,
    acquire_for_key,
    has_signature,
)
from omnihub.config import Settings
from omnihub.errors import (
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
    RateLimitedError,
)
from omnihub.goals import GoalService
from omnihub.runtime import Services, goals_of

bearer = HTTPBearer(
    auto_error=False,
    description="An OmniHub API key (`omnihub keys create`), sent as `Authorization: Bearer KEY`.",
)


def services_of(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise ConfigurationError("the API is starting up; services are not ready yet")
    return services


def metrics_of(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


def _signed_path(request: Request) -> str:
    """The request target exactly as the client sent it (what the signature covers)."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    query = request.scope.get("query_string", b"")
    path = raw.decode("latin-1")
    return f"{path}?{query.decode('latin-1')}" if query else path


def client_address(request: Request) -> str:
    """The peer's address (failed sign-ins are counted per address)."""
    return request.client.host if request.client else "-"


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller's principal: a valid API key, a valid signature when the key needs one (or
    when the request carries one), and a token from the key's and the tenant's rate-limit
    buckets. An address with too many failed keys is refused (429) before any lookup."""
    services = services_of(request)
    metrics = metrics_of(request)
    throttle = services.throttle
    address = client_address(request)
    await throttle.check(address)
    try:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise AuthenticationError("missing API key: send 'Authorization: Bearer KEY'")
        try:
            principal = services.keys.authenticate(credentials.credentials)
            if principal.require_signature or has_signature(request.headers):
                verifier: SignatureVerifier = request.app.state.verifier
                await verifier.verify(
                    key_id=principal.key_id,
                    secret=principal.signing_secret,
                    method=request.method,
                    path=_signed_path(request),
                    body=await request.body(),
                    headers=request.headers,
                )
        except AuthenticationError:
            await throttle.failed(address)  # a wrong key or signature; a missing one costs nothing
            raise
    except AuthenticationError as exc:
        metrics.auth_failures.labels(type(exc).__name__).inc()
        raise
    await throttle.succeeded(address)
    request.state.tenant_id = principal.tenant_id
    try:
        await acquire_for_key(
            services.rate_limiter, principal, settings_of(request).api_rate_limit_key_share
        )
    except RateLimitedError:
        metrics.rate_limited.labels(metrics.tenant_label(principal.tenant_id)).inc()
        raise
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers whose role includes ``role`` (else 403)."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.role.allows(role):
            raise PermissionDeniedError(
                f"role {principal.role.value!r} may not do this; it needs {role.value!r}"
            )
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def goal_service(request: Request) -> GoalService:
    return goals_of(services_of(request))


Goals = Annotated[GoalService, Depends(goal_service)]
