"""Reports of wrong plans: the one use case behind the API's ``POST /v1/cache/reports`` and the
console's button on a goal's page.

The entry is evicted from the tenant's plan cache and the report recorded as a
``PlanReportedWrong`` event in the tenant's plan-cache stream, so the false-hit figure every
process reports is folded from the same events (:class:`StoreCacheStats`), not counted in the
memory of whichever process took the report.
"""

from __future__ import annotations

import asyncio

from omnihub.config import Settings
from omnihub.errors import NotFoundError
from omnihub.events import PLAN_CACHE_STREAM, EventStore, NewEvent, PlanReportedWrong
from omnihub.goals._models import WrongPlanReport, WrongPlanReported


class PlanReports:
    """Evict a wrong plan's cache entry and record the report (a false hit)."""

    def __init__(self, store: EventStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def report(self, tenant_id: str, body: WrongPlanReport, actor: str) -> WrongPlanReported:
        """Evict ``body.entry_id`` from the tenant's cache and record the report. NotFoundError
        when the tenant's cache has no such entry (another tenant's entry, or one already
        evicted): such a report counts nothing and records nothing."""
        return await asyncio.to_thread(self._report, tenant_id, body, actor)

    def _report(self, tenant_id: str, body: WrongPlanReport, actor: str) -> WrongPlanReported:
        # Imported here: the package's import (the client's) stays free of the cache's.
        from omnihub.cache import open_index, report_wrong_plan

        settings = self.settings
        index = open_index(settings.resolved_cache_url, max_entries=settings.cache_max_entries)
        try:
            cause = f"{body.reason} (goal {body.goal_id})" if body.goal_id else body.reason
            result = report_wrong_plan(index, tenant_id, body.entry_id, cause)
        finally:
            index.close()
        if not result.evicted:
            raise NotFoundError(f"no plan-cache entry {body.entry_id!r} in this tenant's cache")
        reported = PlanReportedWrong(
            entry_id=body.entry_id, reason=body.reason, goal_id=body.goal_id, by=actor
        )
        # Keyed by the entry: it is evicted once, so a retried request records one report.
        key = f"reported:{body.entry_id}"
        self.store.append(
            tenant_id, PLAN_CACHE_STREAM, [NewEvent(payload=reported, idempotency_key=key)]
        )
        return WrongPlanReported(
            tenant=result.tenant,
            entry_id=result.entry_id,
            evicted=result.evicted,
            reason=result.reason,
            cause=result.cause,
            false_hit_reports=self.false_hit_reports(tenant_id),
        )

    def false_hit_reports(self, tenant_id: str) -> int:
        """The tenant's recorded wrong-plan reports."""
        events = self.store.read_stream(tenant_id, PLAN_CACHE_STREAM)
        return sum(isinstance(e.payload, PlanReportedWrong) for e in events)
