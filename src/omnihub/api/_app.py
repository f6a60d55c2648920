"""The FastAPI app factory. Nothing is built at import time: settings come in, an app goes out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from omnihub import __version__
from omnihub.api._errors import install_error_handlers
from omnihub.api._metrics import ApiMetrics
from omnihub.api._middleware import GuardMiddleware
from omnihub.api._openapi import install_openapi, operation_id_of
from omnihub.api._routes_admin import router as admin_router
from omnihub.api._routes_cache import cache_router
from omnihub.api._routes_goals import router as goals_router
from omnihub.api._routes_policy import router as policy_router
from omnihub.api._routes_system import router as system_router
from omnihub.api._routes_system import stats_router
from omnihub.api._security import SecurityHeadersMiddleware
from omnihub.auth import SignatureVerifier
from omnihub.config import Settings
from omnihub.console import mount_console
from omnihub.runtime import Services, open_services
from omnihub.telemetry import tracing_requested


def _attach(app: FastAPI, services: Services, settings: Settings) -> None:
    app.state.services = services
    app.state.verifier = SignatureVerifier(services.nonces, settings.api_signature_skew_seconds)


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    sse_keepalive_seconds: float = 15.0,
) -> FastAPI:
    """The OmniHub HTTP API.

    With ``services`` the caller owns them (tests pass real stores in and close them); without,
    they are opened from ``settings`` when the app starts and closed when it stops.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = None
        if services is None:
            owned = await open_services(settings)
            _attach(app, owned, settings)
        try:
            yield
        finally:
            if owned is not None:
                app.state.services = None
                await owned.aclose()

    app = FastAPI(
        title="OmniHub",
        version=__version__,
        summary="A durable, auditable runtime for AI agents that take real actions.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        generate_unique_id_function=operation_id_of,
    )
    app.state.settings = settings
    app.state.metrics = ApiMetrics(tenant_labels=settings.api_metrics_tenant_labels)
    app.state.sse_keepalive_seconds = sse_keepalive_seconds
    app.state.services = services
    if services is not None:
        _attach(app, services, settings)
    install_error_handlers(app)
    app.add_middleware(
        GuardMiddleware, max_body_bytes=settings.api_max_body_bytes, metrics=app.state.metrics
    )
    _add_security_headers(app)
    if tracing_requested():
        # obs: outermost, one server span per request: the parent of a submitted goal's trace.
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        app.add_middleware(OpenTelemetryMiddleware, exclude_spans=["receive", "send"])
    app.include_router(system_router)
    app.include_router(goals_router)
    app.include_router(stats_router)
    app.include_router(cache_router(settings))
    app.include_router(policy_router)
    app.include_router(admin_router)
    app.state.console = mount_console(app, settings)
    install_openapi(app)
    return app


def _add_security_headers(app: FastAPI) -> None:
    """Outermost, so error pages and the guard's own 413/500 answers carry them too."""
    app.add_middleware(SecurityHeadersMiddleware)
