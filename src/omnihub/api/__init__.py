"""The HTTP API: goals, events over SSE, approvals; API keys, signing and rate limits.

A thin adapter over :mod:`omnihub.goals` (the use cases) and :mod:`omnihub.runtime` (the
services, built from settings); goal request and response bodies are the goals package's.
"""

from omnihub.api._app import create_app
from omnihub.api._metrics import ApiMetrics
from omnihub.api._models import ErrorBody
from omnihub.api._server import ApiServer, build_server
from omnihub.api._stack import run_stack

# Moved to omnihub.auth; re-exported so existing imports keep working.
from omnihub.auth import (
    IdempotencyKeyReusedError,
    IdempotencyStore,
    MemoryRateLimiter,
    RateDecision,
    RateLimiter,
    RedisRateLimiter,
)

__all__ = [
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
