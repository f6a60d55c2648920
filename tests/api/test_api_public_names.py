from __future__ import annotations

import omnihub.api


def test_api_public_names() -> None:
    assert omnihub.api.__all__ == [
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
