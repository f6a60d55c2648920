"""Learning from goals: demote a cached plan whose goal failed because of the plan.

A goal's events say what happened: a ``PlanGenerated`` from the cache names the entry, and a
failure is the plan's when a tool rejected the arguments it was given ("invalid arguments") or
the saga had to compensate. Failures of the world (a timeout, a provider outage) are not the
plan's and demote nothing. A cached plan that no longer validates is demoted where it is found
(:class:`CachePlanStore`). An entry evicted after its N-th failure is recorded as a
``CachedPlanEvicted`` event in the tenant's plan-cache stream, with why.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

from omnihub.cache import Demotion
from omnihub.errors import OmniHubError
from omnihub.events import PLAN_CACHE_STREAM, CachedPlanEvicted, EventStore, NewEvent

logger = logging.getLogger(__name__)

#: Causes recorded with a demotion (and in the cache's log and eviction event).
CAUSE_ARGUMENTS = "tool rejected its arguments"
CAUSE_COMPENSATION = "compensated"
CAUSE_VALIDATION = "plan no longer validates"

_REMEMBERED = 10_000


class DemotingStore(Protocol):
    """What the learner needs from the plan cache (:class:`CachePlanStore`)."""

    def demote(self, tenant: str, entry_id: str, cause: str) -> Demotion: ...


def plan_failure(events: Sequence[Any]) -> tuple[str, str] | None:
    """``(entry_id, cause)`` when the goal's plan came from the cache and the goal failed
    because of that plan, else None. ``events`` are the goal's stored events in order."""
    entry_id = None
    failed = compensated = rejected = False
    for envelope in events:
        payload = envelope.payload
        kind = envelope.event_type
        if kind == "PlanGenerated" and payload.source == "cache" and payload.cache is not None:
            entry_id = payload.cache.entry_id
        elif kind == "StepFailed" and "invalid arguments" in payload.error:
            rejected = True
        elif kind == "CompensationExecuted":
            compensated = True
        elif kind == "GoalFailed":
            failed = True
    if entry_id is None or not failed:
        return None
    if rejected:
        return entry_id, CAUSE_ARGUMENTS
    if compensated:
        return entry_id, CAUSE_COMPENSATION
    return None


class PlanFeedback:
    """Reviews failed goals and demotes the cache entry that planned them.

    Each goal is reviewed once per process (a retried ``record_events`` does not count a
    failure twice); the memory of reviewed goals is bounded.
    """

    def __init__(self, store: EventStore, cache: DemotingStore) -> None:
        self.store = store
        self.cache = cache
        self._reviewed: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def goal_failed(self, tenant_id: str, goal_id: str) -> tuple[str, str] | None:
        """Review a goal that just failed; returns what was demoted (entry id, cause). Never
        raises for an unreachable cache or store: learning must not fail the goal's saga."""
        key = (tenant_id, goal_id)
        if key in self._reviewed:
            return None
        self._reviewed[key] = None
        if len(self._reviewed) > _REMEMBERED:
            self._reviewed.popitem(last=False)
        try:
            events = await asyncio.to_thread(self.store.read_stream, tenant_id, goal_id)
            found = plan_failure(events)
            if found is not None:
                demotion = await asyncio.to_thread(self.cache.demote, tenant_id, *found)
                if demotion.evicted:
                    await asyncio.to_thread(self._record_eviction, demotion, goal_id)
        except OmniHubError as exc:
            logger.warning("could not learn from failed goal %s: %s", goal_id, exc)
            return None
        return found

    def _record_eviction(self, demotion: Demotion, goal_id: str) -> None:
        evicted = CachedPlanEvicted(
            entry_id=demotion.entry_id,
            reason=demotion.reason or "plan_failures",
            cause=demotion.cause,
            failures=demotion.failures,
            goal_id=goal_id,
        )
        # Keyed by the entry: an entry is evicted once, and a retried review records nothing.
        key = f"evicted:{demotion.entry_id}"
        self.store.append(
            demotion.tenant, PLAN_CACHE_STREAM, [NewEvent(payload=evicted, idempotency_key=key)]
        )
