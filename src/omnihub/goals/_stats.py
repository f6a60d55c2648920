"""``/v1/cache/stats`` and ``/v1/usage`` from durable records, so any API process can answer.

Cache statistics are folded from the tenant's PlanGenerated events (every plan says whether it
came from the cache, a playbook or an LLM, and a hit carries its template and similarity) and
its plan-cache events (wrong-plan reports, evictions after failures), incrementally: each call
reads only the events recorded since the last one. Savings and spend
come from the planning ledger in the store's database.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from omnihub.events import CachedPlanEvicted, EventStore, PlanGenerated, PlanReportedWrong

if TYPE_CHECKING:  # a type only: the goal models' import stays free of planning
    from omnihub.planning import UsageLedger

_TOP_TEMPLATES = 10


class CacheStatsSource(Protocol):
    async def cache_stats(self, tenant_id: str) -> dict[str, Any]:
        """Plan-cache counters of the tenant (hits, misses by reason, latency)."""
        ...


class UsageSource(Protocol):
    async def usage(self, tenant_id: str, since: datetime | None) -> dict[str, Any]:
        """LLM calls, tokens, cost and savings of the tenant."""
        ...


@dataclass
class _Fold:
    position: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    templates: Counter[str] = field(default_factory=Counter)
    similarity_sum: float = 0.0
    similarity_count: int = 0
    false_hit_reports: int = 0
    evicted_after_failures: int = 0


class StoreCacheStats:
    """Per-tenant plan-cache figures from the event store and the usage ledger."""

    def __init__(self, store: EventStore, ledger: UsageLedger, *, batch: int = 1000) -> None:
        self.store = store
        self.ledger = ledger
        self.batch = batch
        self._folds: dict[str, _Fold] = {}
        self._lock = threading.Lock()

    def _fold(self, tenant_id: str) -> dict[str, Any]:
        with self._lock:
            fold = self._folds.setdefault(tenant_id, _Fold())
            while True:
                events = self.store.read_all(tenant_id, fold.position, self.batch)
                for event in events:
                    fold.position = event.global_position
                    payload = event.payload
                    if isinstance(payload, PlanReportedWrong):
                        fold.false_hit_reports += 1
                    elif isinstance(payload, CachedPlanEvicted):
                        fold.evicted_after_failures += 1
                    if not isinstance(payload, PlanGenerated):
                        continue
                    fold.by_source[payload.source] += 1
                    if payload.source == "cache" and payload.cache is not None:
                        if payload.cache.template:
                            fold.templates[payload.cache.template] += 1
                        if payload.cache.similarity is not None:
                            fold.similarity_sum += payload.cache.similarity
                            fold.similarity_count += 1
                if len(events) < self.batch:
                    break
            hits = fold.by_source["cache"]
            plans = sum(fold.by_source.values())
            return {
                "plans": plans,
                "hits": hits,
                "misses": plans - hits,
                "hit_rate": round(hits / plans, 4) if plans else 0.0,
                "by_source": dict(sorted(fold.by_source.items())),
                "mean_hit_similarity": (
                    round(fold.similarity_sum / fold.similarity_count, 4)
                    if fold.similarity_count
                    else None
                ),
                "false_hit_reports": fold.false_hit_reports,
                "false_hit_rate": round(fold.false_hit_reports / hits, 4) if hits else 0.0,
                "evicted_after_failures": fold.evicted_after_failures,
                "top_templates": [
                    {"template": t, "hits": n}
                    for t, n in fold.templates.most_common(_TOP_TEMPLATES)
                ],
            }

    def _savings(self, tenant_id: str) -> dict[str, Any]:
        rows = self.ledger.summary(tenant_id, None)
        return {
            # Hits as the planning flow counted them; the same as ``hits`` once every
            # PlanGenerated event names its real source.
            "ledger_cache_hits": sum(r.cache_hits for r in rows),
            "tokens_saved": sum(r.saved_tokens for r in rows),
            "cost_saved": round(sum(r.saved_cost for r in rows), 6),
        }

    async def cache_stats(self, tenant_id: str) -> dict[str, Any]:
        figures = await asyncio.to_thread(self._fold, tenant_id)
        savings = await asyncio.to_thread(self._savings, tenant_id)
        return {"tenant": tenant_id, **figures, **savings}

    async def usage(self, tenant_id: str, since: datetime | None) -> dict[str, Any]:
        rows = await asyncio.to_thread(self.ledger.summary, tenant_id, since)
        totals = {
            name: sum(getattr(r, name) for r in rows)
            for name in (
                "calls",
                "prompt_tokens",
                "completion_tokens",
                "cost",
                "cache_hits",
                "saved_tokens",
                "saved_cost",
            )
        }
        return {
            "tenant": tenant_id,
            "since": since.isoformat() if since else None,
            "rows": [asdict(r) for r in rows],
            "totals": totals,
        }
