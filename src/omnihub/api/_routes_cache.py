"""Reports of wrong plans: a user or operator says a cached plan was wrong."""

from __future__ import annotations

from fastapi import APIRouter, Request

from omnihub.api._deps import Operator, services_of
from omnihub.api._models import ErrorBody
from omnihub.config import Settings
from omnihub.errors import ConfigurationError
from omnihub.goals import PlanReports, WrongPlanReport, WrongPlanReported


def cache_router(settings: Settings) -> APIRouter:
    """``POST /v1/cache/reports``: evict the entry from the caller's tenant's plan cache and
    record the report (a ``PlanReportedWrong`` event), counted as a false hit by every
    process's ``/v1/cache/stats``."""
    router = APIRouter(
        prefix="/v1/cache",
        tags=["cache"],
        responses={code: {"model": ErrorBody} for code in (401, 403, 404, 422, 429, 503)},
    )

    @router.post(
        "/reports",
        response_model=WrongPlanReported,
        summary="Report a wrong plan served by the plan cache",
    )
    async def report_wrong(
        request: Request, body: WrongPlanReport, principal: Operator
    ) -> WrongPlanReported:
        """The entry is evicted at once (so no later goal gets the plan) and the report is
        recorded and counted as a false hit. 404 when the tenant's cache has no such entry."""
        store = services_of(request).store
        if store is None:
            raise ConfigurationError("wrong-plan reports need the event store")
        return await PlanReports(store, settings).report(
            principal.tenant_id, body, f"key:{principal.key_id}"
        )

    return router
