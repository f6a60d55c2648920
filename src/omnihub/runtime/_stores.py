"""The API's stateful parts (keys, idempotency records, nonces, rate limits), each built by
one small function from the settings: the one place that chooses their backends.

Each is named by a URL; with PostgreSQL and Redis URLs an API process keeps no state of its own.
"""

from __future__ import annotations

from omnihub import auth
from omnihub.auth import IdempotencyStore, KeyStore, NonceStore, RateLimiter, SecretCipher
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
