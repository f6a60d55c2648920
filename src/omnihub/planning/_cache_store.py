"""The plan cache (:mod:`omnihub.cache`) as the planning flow's :class:`PlanStore`."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from omnihub.cache import Demotion, Lookup, PlanCache, cache_version
from omnihub.errors import PlanValidationError
from omnihub.planning._flow import CachedPlan
from omnihub.planning._ledger import UsageLedger
from omnihub.planning._llm import check_plan
from omnihub.planning._planner import Planner, PlannerResult, PlanRequest
from omnihub.planning._prompt import PROMPT_VERSION
from omnihub.planning._types import Usage
from omnihub.plans import Plan
from omnihub.tools import ToolRegistry

logger = logging.getLogger(__name__)

_MAX_PENDING = 1024


def planner_cache_version(planner: Planner, registry: ToolRegistry) -> str:
    """The cache version tag for plans from ``planner``: the tool schemas, the model and the
    prompt version (for playbooks, a hash of the playbooks themselves)."""
    schemas = {entry["name"]: entry["input_schema"] for entry in registry.catalog()}
    playbooks = getattr(planner, "playbooks", None)
    if playbooks is not None:
        text = json.dumps([p.model_dump(mode="json") for p in playbooks], sort_keys=True)
        return cache_version(schemas, "playbook", hashlib.sha256(text.encode()).hexdigest()[:16])
    return cache_version(schemas, planner.model or planner.source, PROMPT_VERSION)


class CachePlanStore:
    """Looks goals up in a :class:`PlanCache` and stores fresh plans in it.

    A hit is parsed and validated again (values injected into a template must still fit the
    tools' schemas); one that does not is treated as a miss. What planning the cached plan
    cost is kept in the ledger under the cache entry's id, so each hit can record its savings.
    """

    def __init__(
        self, cache: PlanCache, registry: ToolRegistry, ledger: UsageLedger | None = None
    ) -> None:
        self.cache = cache
        self.registry = registry
        self.ledger = ledger
        self._misses: dict[tuple[str, str], Lookup] = {}

    def lookup(self, request: PlanRequest) -> CachedPlan | None:
        if request.tainted:
            # Replanning after tool outputs: the plan must answer what they say, which a plan
            # cached for the goal text alone does not.
            return None
        found = self.cache.lookup(request.tenant, request.goal, request.now)
        if not found.hit:
            if len(self._misses) >= _MAX_PENDING:
                self._misses.clear()
            self._misses[(request.tenant, request.goal)] = found
            return None
        try:
            plan = Plan.model_validate(found.plan)
            check_plan(plan, self.registry)
        except (PydanticValidationError, PlanValidationError) as exc:
            logger.warning(
                "cached plan %s no longer validates; planning anew: %s", found.entry_id, exc
            )
            if found.entry_id is not None:
                self.demote(request.tenant, found.entry_id, "plan no longer validates")
            return None
        usage = None
        if self.ledger is not None and found.entry_id is not None:
            usage = self.ledger.plan_usage(found.entry_id)
        details: dict[str, Any] = {"entry_id": found.entry_id, "similarity": found.similarity}
        if found.template is not None:
            details["template"] = found.template.text
        return CachedPlan(plan=plan, usage=usage or Usage(), details=details)

    def store(self, request: PlanRequest, result: PlannerResult) -> None:
        miss = self._misses.pop((request.tenant, request.goal), None)
        if request.tainted:
            # The planner read outside text (tool outputs) as well as the goal: its plan may
            # carry values or a choice of tools that text dictated. A cached plan is served to
            # later goals and traced against *their* text only, as if the goal had written
            # it, so a tainted plan is never stored (the entry would launder its provenance).
            logger.info("plan for a goal with outside text is not cached (tainted)")
            return
        stored = self.cache.store(
            request.tenant,
            request.goal,
            result.plan.model_dump(mode="json"),
            now=request.now,
            lookup=miss,
            planner_tokens=result.usage.total_tokens,
        )
        if stored.entry_id is not None and self.ledger is not None:
            self.ledger.remember_plan_usage(stored.entry_id, request.tenant, result.usage)

    def demote(self, tenant: str, entry_id: str, cause: str) -> Demotion:
        """The goal planned by entry ``entry_id`` failed because of the plan (see
        :meth:`PlanCache.demote`)."""
        return self.cache.demote(tenant, entry_id, cause)

    def close(self) -> None:
        self.cache.close()
