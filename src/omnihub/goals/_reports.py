"""Reports of wrong plans: the one use case behind the API's ``POST /v1/cache/reports``, the
console's button on a goal's page and ``omnihub cache report-wrong``.

The entry is evicted from the tenant's plan cache and the report recorded as a
``PlanReportedWrong`` event in the tenant's plan-cache stream, so the false-hit figure every
process reports is folded from the same events (:class:`StoreCacheStats`), not counted in the
memory of whichever process took the report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from omnihub.config import Settings
from omnihub.errors import NotFoundError
from omnihub.events import PLAN_CACHE_STREAM, EventStore, NewEvent, PlanReportedWrong
from omnihub.goals._models import WrongPlanReport, WrongPlanReported

if TYPE_CHECKING:  # the cache is imported where a report is made: the package stays light
    from omnihub.cache import PlanIndex


class PlanReports:
    """Evict a wrong plan's cache entry and record the report (a false hit).

    ``index`` opens the plan-cache index to evict from (default: the one ``settings``
    configure); the CLI passes its own for its ``--backend`` override.
    """

    def __init__(
        self,
        store: EventStore,
        settings: Settings,
        *,
        index: Callable[[], PlanIndex] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._open_index = index or self._configured_index

    def _configured_index(self) -> PlanIndex:
        from omnihub.cache import open_index

        settings = self.settings
        return open_index(settings.resolved_cache_url, max_entries=settings.cache_max_entries)

    async def report(self, tenant_id: str, body: WrongPlanReport, actor: str) -> WrongPlanReported:
        """:meth:`report_now` in a worker thread (it does blocking I/O)."""
        return await asyncio.to_thread(self.report_now, tenant_id, body, actor)

    def report_now(self, tenant_id: str, body: WrongPlanReport, actor: str) -> WrongPlanReported:
        """Evict ``body.entry_id`` from the tenant's cache and record the report (blocking).
        NotFoundError when the tenant's cache has no such entry (another tenant's entry, or
        one already evicted): such a report counts nothing and records nothing."""
        from omnihub.cache import report_wrong_plan

        index = self._open_index()
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
