"""Request dependencies: who is calling (API key, optional signature), rate limit, role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from omnihub.api._metrics import ApiMetrics
from omnihub.auth import Principal, Role, SignatureVerifier, has_signature
from omnihub.errors import (
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
    RateLimitedError,
)
from omnihub.goals import GoalService
from omnihub.runtime import Services, goals_of

_bearer = HTTPBearer(
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


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's principal: a valid API key, a valid signature when the key needs one (or
    when the request carries one), and a token from the tenant's rate-limit bucket."""
    services = services_of(request)
    metrics = metrics_of(request)
    try:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise AuthenticationError("missing API key: send 'Authorization: Bearer KEY'")
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
    except AuthenticationError as exc:
        metrics.auth_failures.labels(type(exc).__name__).inc()
        raise
    request.state.tenant_id = principal.tenant_id
    decision = await services.rate_limiter.acquire(principal.tenant_id)
    if not decision.allowed:
        metrics.rate_limited.labels(principal.tenant_id).inc()
        raise RateLimitedError(principal.tenant_id, decision.retry_after)
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
