"""Reports of wrong plans: a user or operator says a cached plan was wrong."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from omnihub.api._deps import Operator
from omnihub.api._models import ErrorBody
from omnihub.cache import CacheMetrics, open_index, report_wrong_plan
from omnihub.config import Settings
from omnihub.errors import NotFoundError


class WrongPlanReport(BaseModel):
    """A plan-cache entry that served a wrong plan (its id is in the goal's PlanGenerated
    event, ``cache.entry_id``)."""

    model_config = ConfigDict(extra="forbid")

    entry_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")
    reason: str = Field("reported by a user", min_length=1, max_length=500)
    goal_id: str | None = Field(None, max_length=200, description="The goal that was served.")


class WrongPlanReported(BaseModel):
    tenant: str
    entry_id: str
    evicted: bool
    reason: str | None = Field(description="Why the entry was dropped: reported_wrong.")
    cause: str | None
    false_hit_reports: int = Field(description="Reports counted by this API process.")


def cache_router(settings: Settings) -> APIRouter:
    """``POST /v1/cache/reports``: evict the entry from the caller's tenant's plan cache and
    count the report as a false hit (this process's :class:`CacheMetrics`; the worker's own
    lookups and demotions are counted in the worker)."""
    router = APIRouter(
        prefix="/v1/cache",
        tags=["cache"],
        responses={code: {"model": ErrorBody} for code in (401, 403, 404, 422, 429, 503)},
    )
    metrics = CacheMetrics()

    def report(tenant: str, body: WrongPlanReport) -> Any:
        index = open_index(
            settings.cache_backend,
            settings=settings,
            path=str(settings.resolved_cache_path),
            max_entries=settings.cache_max_entries,
        )
        try:
            cause = f"{body.reason} (goal {body.goal_id})" if body.goal_id else body.reason
            result = report_wrong_plan(index, tenant, body.entry_id, cause)
            # Only a report that found the entry is a false hit: a second report of the same
            # entry, or one naming another tenant's entry, counts nothing.
            if result.evicted:
                metrics.add("false_hit_reports")
            return result
        finally:
            index.close()

    @router.post(
        "/reports",
        response_model=WrongPlanReported,
        summary="Report a wrong plan served by the plan cache",
    )
    async def report_wrong(body: WrongPlanReport, principal: Operator) -> WrongPlanReported:
        """The entry is evicted at once (so no later goal gets the plan) and the report is
        counted as a false hit. 404 when the tenant's cache has no such entry."""
        result = await asyncio.to_thread(report, principal.tenant_id, body)
        if not result.evicted:
            raise NotFoundError(f"no plan-cache entry {body.entry_id!r} in this tenant's cache")
        return WrongPlanReported(
            tenant=result.tenant,
            entry_id=result.entry_id,
            evicted=result.evicted,
            reason=result.reason,
            cause=result.cause,
            false_hit_reports=metrics.false_hit_reports,
        )

    return router
