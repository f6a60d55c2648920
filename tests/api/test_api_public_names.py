from __future__ import annotations

import omnihub.api


def test_api_public_names() -> None:
    assert omnihub.api.__all__ == [
        "ApiMetrics",
        "ApiServer",
        "ErrorBody",
        "IdempotencyKeyReusedError",
        "IdempotencyStore",
        "MemoryRateLimiter",
        "RateDecision",
        "RateLimiter",
        "RedisRateLimiter",
        "build_server",
        "create_app",
        "run_stack",
    ]
