"""The API's stateful parts (keys, idempotency records, console sessions, nonces, rate limits,
the failed-sign-in throttle), each built by
one small function from the settings: the one place that chooses their backends.

Each is named by a URL; with PostgreSQL and Redis URLs an API process keeps no state of its own.
"""

from __future__ import annotations

from omnihub import auth
from omnihub.auth import (
    FailureThrottle,
    IdempotencyStore,
    KeyStore,
    NonceStore,
    RateLimiter,
    SecretCipher,
    SessionStore,
)
from omnihub.config import Settings


def open_key_store(settings: Settings) -> KeyStore:
    """API keys at ``api_keys_url``; signing secrets encrypted with the settings' key."""
    return auth.open_key_store(
        settings.resolved_api_keys_url, cipher=SecretCipher.from_settings(settings)
    )


def open_idempotency_store(settings: Settings) -> IdempotencyStore:
    """Idempotency records at ``api_idempotency_url`` (default: beside the API keys)."""
    return auth.open_idempotency_store(settings.resolved_api_idempotency_url)


def open_rate_limiter(settings: Settings) -> RateLimiter:
    """In memory, or in Redis (``api_rate_limit_url``, or ``api_redis_url``)."""
    return auth.open_rate_limiter(
        settings.resolved_api_rate_limit_url,
        settings.api_rate_limit_per_second,
        settings.api_rate_limit_burst,
    )


def open_nonce_store(settings: Settings) -> NonceStore:
    """In memory, or in Redis (``api_nonces_url``, or ``api_redis_url``)."""
    return auth.open_nonce_store(settings.resolved_api_nonces_url)


def open_session_store(settings: Settings) -> SessionStore:
    """Console sessions at ``api_sessions_url`` (default: beside the API keys)."""
    return auth.open_session_store(settings.resolved_api_sessions_url)


def open_failure_throttle(settings: Settings) -> FailureThrottle:
    """In memory, or in Redis (``api_throttle_url``, or ``api_redis_url``)."""
    return auth.open_failure_throttle(
        settings.resolved_api_throttle_url, free=settings.api_auth_free_failures
    )
