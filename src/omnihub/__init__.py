"""OmniHub: a durable, auditable runtime for AI agents that take real actions."""

from omnihub.errors import (
    ConcurrencyError,
    ConfigurationError,
    IntegrityError,
    NotFoundError,
    OmniHubError,
    PayloadTooLargeError,
    SchemaVersionError,
    ServerError,
    StoreError,
    StoreUnavailableError,
    UnknownEventTypeError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "ConcurrencyError",
    "ConfigurationError",
    "IntegrityError",
    "NotFoundError",
    "OmniHubError",
    "PayloadTooLargeError",
    "SchemaVersionError",
    "ServerError",
    "StoreError",
    "StoreUnavailableError",
    "UnknownEventTypeError",
    "ValidationError",
    "__version__",
]
