"""Who is calling and whether to admit the request: API keys per tenant with roles, HMAC
request signing with replay checks, per-tenant rate limits and Idempotency-Key records.

Every store is built from a URL: keys and idempotency records on SQLite (embedded) or
PostgreSQL, console sessions on SQLite, PostgreSQL or Redis, nonces, rate limits and the
failed-sign-in throttle in memory or Redis, so API processes hold no state.
"""

from omnihub.auth._cipher import SecretCipher
from omnihub.auth._idempotency import (
    IdempotencyKeyReusedError,
    IdempotencyStore,
    PostgresIdempotencyStore,
    SqlIdempotencyStore,
    SQLiteIdempotencyStore,
    open_idempotency_store,
    request_hash,
)
from omnihub.auth._keys import (
    CreatedKey,
    KeyInfo,
    KeyStore,
    PostgresKeyStore,
    Principal,
    Role,
    SQLiteKeyStore,
    SqlKeyStore,
    open_key_store,
    signing_secret_for,
)
from omnihub.auth._nonces import MemoryNonceStore, NonceStore, RedisNonceStore, open_nonce_store
from omnihub.auth._ratelimit import (
    MemoryRateLimiter,
    RateDecision,
    RateLimiter,
    RedisRateLimiter,
    open_rate_limiter,
)
from omnihub.auth._sessions import (
    BrowserSession,
    PostgresSessionStore,
    RedisSessionStore,
    SessionStore,
    SQLiteSessionStore,
    SqlSessionStore,
    open_session_store,
)
from omnihub.auth._signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureVerifier,
    canonical_request,
    has_signature,
    sign_request,
)
from omnihub.auth._storage import redis_client
from omnihub.auth._throttle import (
    AuthThrottledError,
    FailureThrottle,
    MemoryFailureThrottle,
    RedisFailureThrottle,
    acquire_for_key,
    open_failure_throttle,
)

__all__ = [
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AuthThrottledError",
    "BrowserSession",
    "CreatedKey",
    "FailureThrottle",
    "IdempotencyKeyReusedError",
    "IdempotencyStore",
    "KeyInfo",
    "KeyStore",
    "MemoryFailureThrottle",
    "MemoryNonceStore",
    "MemoryRateLimiter",
    "NonceStore",
    "PostgresIdempotencyStore",
    "PostgresKeyStore",
    "PostgresSessionStore",
    "Principal",
    "RateDecision",
    "RateLimiter",
    "RedisFailureThrottle",
    "RedisNonceStore",
    "RedisRateLimiter",
    "RedisSessionStore",
    "Role",
    "SQLiteIdempotencyStore",
    "SQLiteKeyStore",
    "SQLiteSessionStore",
    "SecretCipher",
    "SessionStore",
    "SignatureVerifier",
    "SqlIdempotencyStore",
    "SqlKeyStore",
    "SqlSessionStore",
    "acquire_for_key",
    "canonical_request",
    "has_signature",
    "open_failure_throttle",
    "open_idempotency_store",
    "open_key_store",
    "open_nonce_store",
    "open_rate_limiter",
    "open_session_store",
    "redis_client",
    "request_hash",
    "sign_request",
    "signing_secret_for",
]
