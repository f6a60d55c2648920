"""OmniHub: a durable, auditable runtime for AI agents that take real actions."""

from omnihub.errors import (
    CacheInputError,
    ConcurrencyError,
    ConfigurationError,
    IntegrityError,
    NotFoundError,
    OmniHubError,
    PayloadTooLargeError,
    SchemaVersionError,
    ServerError,
    SlotError,
    StoreError,
    StoreUnavailableError,
    UnknownEventTypeError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "CacheInputError",
    "ConcurrencyError",
    "ConfigurationError",
    "IntegrityError",
    "NotFoundError",
    "OmniHubError",
    "PayloadTooLargeError",
    "SchemaVersionError",
    "ServerError",
    "SlotError",
    "StoreError",
    "StoreUnavailableError",
    "UnknownEventTypeError",
    "ValidationError",
    "__version__",
]
