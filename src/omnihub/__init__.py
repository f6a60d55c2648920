"""OmniHub: a durable, auditable runtime for AI agents that take real actions."""

from omnihub.errors import (
    AuthenticationError,
    ConcurrencyError,
    ConfigurationError,
    IntegrityError,
    NotFoundError,
    OmniHubError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    SchemaVersionError,
    ServerError,
    SignatureError,
    StoreError,
    StoreUnavailableError,
    UnknownEventTypeError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "ConcurrencyError",
    "ConfigurationError",
    "IntegrityError",
    "NotFoundError",
    "OmniHubError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "SchemaVersionError",
    "ServerError",
    "SignatureError",
    "StoreError",
    "StoreUnavailableError",
    "UnknownEventTypeError",
    "ValidationError",
    "__version__",
]
