"""Health, readiness, metrics, and the tenant's cache and usage figures."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from omnihub.api._deps import Viewer, authenticate, bearer, metrics_of, services_of, settings_of
from omnihub.api._errors import error_responses
from omnihub.api._models import ErrorBody, HealthBody, ReadinessBody
from omnihub.auth import Role
from omnihub.errors import ConfigurationError, PermissionDeniedError
from omnihub.goals import CacheStats, UsageReport

router = APIRouter(tags=["system"])
stats_router = APIRouter(
    prefix="/v1",
    tags=["stats"],
    responses=error_responses(401, 403, 422, 429, 503),
)

_CHECK_TIMEOUT = 5.0


@router.get("/healthz", response_model=HealthBody, summary="Liveness", operation_id="healthz")
async def healthz() -> HealthBody:
    """The process is up and serving requests."""
    return HealthBody(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessBody,
    summary="Readiness",
    operation_id="readyz",
    responses={503: {"model": ReadinessBody}},
)
async def readyz(request: Request) -> JSONResponse:
    """Every dependency of this process answers: the key store, the event store and Temporal,
    and Redis when rate limits and nonces live there (the ``checks`` list names each one).

    The plan cache is not among them: it lives in the workers, not in the API process, so a
    cache outage shows as failing goals, not as an unready API."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        body = ReadinessBody(status="unavailable", checks={"services": "starting"})
        return JSONResponse(body.model_dump(), status_code=503)
    names = list(services.checks)
    results = await asyncio.gather(
        *(asyncio.wait_for(services.checks[n](), _CHECK_TIMEOUT) for n in names),
        return_exceptions=True,
    )
    checks = {
        name: "ok" if not isinstance(result, BaseException) else _describe(result)
        for name, result in zip(names, results, strict=True)
    }
    ready = all(v == "ok" for v in checks.values())
    body = ReadinessBody(status="ready" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {_CHECK_TIMEOUT:g} s"
    return f"{type(exc).__name__}: {exc}"[:300]


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        **{code: {"model": ErrorBody} for code in (401, 403, 429)},
    },
)
async def metrics(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """Request counts and latency by route, rate-limit and auth refusals. Needs an admin key
    unless ``api_metrics_public`` is set (a scraper sends it as a bearer token)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    if not settings_of(request).api_metrics_public:
        principal = await authenticate(request, credentials)
        if not principal.role.allows(Role.ADMIN):
            raise PermissionDeniedError("metrics need an admin key")

    return Response(metrics_of(request).render(), media_type=CONTENT_TYPE_LATEST)


@stats_router.get(
    "/cache/stats",
    response_model=CacheStats,
    summary="Plan-cache statistics of the caller's tenant",
    operation_id="getCacheStats",
)
async def cache_stats(request: Request, principal: Viewer) -> dict[str, Any]:
    """Hits, misses by reason, and lookup latency of the tenant's plan cache."""
    source = services_of(request).cache_stats
    if source is None:
        raise ConfigurationError("cache statistics are not available: no plan cache configured")
    return await source.cache_stats(principal.tenant_id)


@stats_router.get(
    "/usage",
    response_model=UsageReport,
    summary="LLM usage and cost of the caller's tenant",
    operation_id="getUsage",
)
async def usage(
    request: Request,
    principal: Viewer,
    since: Annotated[datetime | None, Query(description="Only usage from this time on")] = None,
) -> dict[str, Any]:
    """LLM calls, tokens, cost, and what the plan cache saved."""
    source = services_of(request).usage
    if source is None:
        raise ConfigurationError("usage is not available: no usage ledger configured")
    return await source.usage(principal.tenant_id, since)
