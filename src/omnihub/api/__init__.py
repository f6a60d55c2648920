"""The HTTP API: goals, events over SSE, approvals; API keys, signing and rate limits."""

from omnihub.api._app import create_app
from omnihub.api._goals import SagaGoalService
from omnihub.api._metrics import ApiMetrics
from omnihub.api._models import (
    ApprovalDecision,
    ControlRequest,
    ErrorBody,
    GoalAccepted,
    GoalPage,
    GoalRequest,
)
from omnihub.api._server import ApiServer, build_server
from omnihub.api._services import (
    ApiServices,
    CacheStatsSource,
    ControlAction,
    GoalService,
    StreamEvent,
    UsageSource,
)
from omnihub.api._stack import StackInfo, run_stack
from omnihub.api._stats import StoreCacheStats
from omnihub.api._wiring import open_core_services, open_services

# Moved to omnihub.auth; re-exported so existing imports keep working.
from omnihub.auth import (
    IdempotencyKeyReusedError,
    IdempotencyStore,
    MemoryRateLimiter,
    RateDecision,
    RateLimiter,
    RedisRateLimiter,
    open_nonce_store,
    open_rate_limiter,
)

__all__ = [
    "ApiMetrics",
    "ApiServer",
    "ApiServices",
    "ApprovalDecision",
    "CacheStatsSource",
    "ControlAction",
    "ControlRequest",
    "ErrorBody",
    "GoalAccepted",
    "GoalPage",
    "GoalRequest",
    "GoalService",
    "IdempotencyKeyReusedError",
    "IdempotencyStore",
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimiter",
    "RedisRateLimiter",
    "SagaGoalService",
    "StackInfo",
    "StoreCacheStats",
    "StreamEvent",
    "UsageSource",
    "build_server",
    "create_app",
    "open_core_services",
    "open_nonce_store",
    "open_rate_limiter",
    "open_services",
    "run_stack",
]
