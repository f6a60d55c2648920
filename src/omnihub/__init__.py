"""OmniHub: a durable, auditable runtime for AI agents that take real actions."""

from omnihub.errors import (
    ConcurrencyError,
    ConfigurationError,
    DestinationRefusedError,
    IntegrityError,
    NotFoundError,
    OmniHubError,
    PayloadTooLargeError,
    PlanValidationError,
    SchemaVersionError,
    ServerError,
    StoreError,
    StoreUnavailableError,
    ToolError,
    ToolNotFoundError,
    UnknownEventTypeError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "ConcurrencyError",
    "ConfigurationError",
    "DestinationRefusedError",
    "IntegrityError",
    "NotFoundError",
    "OmniHubError",
    "PayloadTooLargeError",
    "PlanValidationError",
    "SchemaVersionError",
    "ServerError",
    "StoreError",
    "StoreUnavailableError",
    "ToolError",
    "ToolNotFoundError",
    "UnknownEventTypeError",
    "ValidationError",
    "__version__",
]
