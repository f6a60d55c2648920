"""The semantic plan cache: reuse a plan for a request that differs only in its values."""

from omnihub.cache._cache import (
    Demotion,
    Lookup,
    PlanCache,
    StoreResult,
    cache_version,
    report_wrong_plan,
    validate_request,
)
from omnihub.cache._eval import EvalRecord, evaluate, load_dataset, plans_equal
from omnihub.cache._factory import open_index, open_plan_cache
from omnihub.cache._guards import bound_guard, slot_guard, version_guard, wording_guard
from omnihub.cache._index import CacheEntry, Candidate, PlanIndex
from omnihub.cache._memory import MemoryPlanIndex
from omnihub.cache._metrics import CacheMetrics
from omnihub.cache._redis import (
    RedisPlanIndex,
    distance_from_similarity,
    similarity_from_distance,
)
from omnihub.errors import CacheInputError

__all__ = [
    "CacheEntry",
    "CacheInputError",
    "CacheMetrics",
    "Candidate",
    "Demotion",
    "EvalRecord",
    "Lookup",
    "MemoryPlanIndex",
    "PlanCache",
    "PlanIndex",
    "RedisPlanIndex",
    "StoreResult",
    "bound_guard",
    "cache_version",
    "distance_from_similarity",
    "evaluate",
    "load_dataset",
    "open_index",
    "open_plan_cache",
    "plans_equal",
    "report_wrong_plan",
    "similarity_from_distance",
    "slot_guard",
    "validate_request",
    "version_guard",
    "wording_guard",
]
