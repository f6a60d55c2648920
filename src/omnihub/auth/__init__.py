"""Who is calling: API keys per tenant with roles, and HMAC request signing with replay checks."""

from omnihub.auth._keys import (
    CreatedKey,
    KeyInfo,
    KeyStore,
    Principal,
    Role,
    SQLiteKeyStore,
    open_key_store,
    signing_secret_for,
)
from omnihub.auth._nonces import MemoryNonceStore, NonceStore, RedisNonceStore, redis_client
from omnihub.auth._signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureVerifier,
    canonical_request,
    has_signature,
    sign_request,
)
from omnihub.auth._throttle import AuthThrottledError, FailureThrottle, acquire_for_key

__all__ = [
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AuthThrottledError",
    "CreatedKey",
    "FailureThrottle",
    "KeyInfo",
    "KeyStore",
    "MemoryNonceStore",
    "NonceStore",
    "Principal",
    "RedisNonceStore",
    "Role",
    "SQLiteKeyStore",
    "SignatureVerifier",
    "acquire_for_key",
    "canonical_request",
    "has_signature",
    "open_key_store",
    "redis_client",
    "sign_request",
    "signing_secret_for",
]
