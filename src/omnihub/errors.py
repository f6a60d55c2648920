"""The exception tree every OmniHub component raises from.

Third-party errors (sqlite3, psycopg, redis, httpx, temporalio) are translated where they
enter OmniHub, so callers only ever need to catch these::

    OmniHubError                    root; carries a human-readable message
    ├── ConfigurationError          settings that cannot work (bad URL, missing package)
    ├── ValidationError             input rejected at a boundary (never half-written)
    │   ├── PayloadTooLargeError    an event payload over the configured size limit
    │   ├── UnknownEventTypeError   an event type no model is registered for
    │   ├── SchemaVersionError      a schema version with no upcaster path to the current one
    │   ├── PlanValidationError     a plan that cannot run: ``problems`` lists every reason
    │   ├── CacheInputError         a request the plan cache refuses (empty, too long, bad text)
    │   ├── GoalExistsError         a goal id already started (HTTP 409): ``goal_id``
    │   ├── PolicyValidationError   a Cedar policy set the schema rejects (``problems``)
    │   ├── GoalEndedError          cancel, pause, resume or a decision on an ended goal (409)
    │   └── SlotError               a cached plan needs a value the request does not have
    ├── StoreError                  the event store or another database failed
    │   ├── ConcurrencyError        optimistic concurrency: ``actual_version`` says what is stored
    │   └── StoreUnavailableError   the backend could not be reached
    ├── IntegrityError              stored data fails verification (a broken hash chain)
    ├── NotFoundError               a goal, stream or resource that does not exist (for the caller)
    │   └── ToolNotFoundError       no tool is registered under this name
    ├── AuthenticationError         a missing, unknown or revoked API key
    │   └── SignatureError          a request signature that is missing, expired, replayed or wrong
    ├── PermissionDeniedError       the caller's role may not perform this action
    │   └── PolicyDeniedError       a tenant policy forbids this call (``policy_ids``, ``version``)
    ├── RateLimitedError            a tenant over its request rate: ``retry_after`` in seconds
    ├── ToolError                   a tool call failed; ``non_retryable`` stops Temporal retries
    │   └── DestinationRefusedError an HTTP destination refused by the SSRF guard
    ├── ServerError                 an embedded server (Temporal, PostgreSQL, Redis) failed to start
    └── PlanningError               no valid plan could be made for a goal (``retryable``)
        ├── NoPlanError             no playbook matches the goal (offline planner)
        ├── InvalidPlanError        the plans stayed invalid after every repair turn
        ├── PlanRefusedError        the model refused the request (not retried)
        ├── BudgetExceededError     the tenant is over its daily LLM budget (``action``)
        └── ProviderError           the LLM provider failed (``provider``, ``status``)
            ├── ProviderRequestError      a 4xx other than 429: the provider's message
            ├── ProviderRateLimitError    429 past the retries or a too-long Retry-After
            └── ProviderUnavailableError  5xx or timeouts past the retries

Later components add their own subclasses below these branches; the tree above is the contract.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BudgetExceededError",
    "CacheInputError",
    "ConcurrencyError",
    "ConfigurationError",
    "DestinationRefusedError",
    "GoalEndedError",
    "GoalExistsError",
    "IntegrityError",
    "InvalidPlanError",
    "NoPlanError",
    "NotFoundError",
    "OmniHubError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlanRefusedError",
    "PlanValidationError",
    "PlanningError",
    "PolicyDeniedError",
    "PolicyValidationError",
    "ProviderError",
    "ProviderRateLimitError",
    "ProviderRequestError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "SchemaVersionError",
    "ServerError",
    "SignatureError",
    "SlotError",
    "StoreError",
    "StoreUnavailableError",
    "ToolError",
    "ToolNotFoundError",
    "UnknownEventTypeError",
    "ValidationError",
]


class OmniHubError(Exception):
    """Root of every error OmniHub raises on purpose."""


class ConfigurationError(OmniHubError):
    """The configuration cannot work: a malformed URL, a missing optional package."""


class ValidationError(OmniHubError):
    """Input rejected at a boundary; nothing was written."""


class PayloadTooLargeError(ValidationError):
    """An event payload is larger than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload is {size} bytes, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class UnknownEventTypeError(ValidationError):
    """No event model is registered under this type name."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.event_type = event_type


class SchemaVersionError(ValidationError):
    """A schema version that cannot be upcast to the current model."""

    def __init__(self, event_type: str, version: int, current: int) -> None:
        super().__init__(
            f"event type {event_type!r} has schema version {version}; "
            f"supported versions are 1..{current}"
        )
        self.event_type = event_type
        self.version = version
        self.current = current


class CacheInputError(ValidationError):
    """A request the plan cache refuses: empty, too long, invalid UTF-8 or control characters."""


class GoalExistsError(ValidationError):
    """A goal with this id was started already (a conflict with state, not bad input)."""

    def __init__(self, goal_id: str) -> None:
        super().__init__(f"goal {goal_id!r} exists already")
        self.goal_id = goal_id


class GoalEndedError(ValidationError):
    """An action on a goal that has ended already (a conflict with state, not bad input)."""

    def __init__(self, goal_id: str) -> None:
        super().__init__(f"goal {goal_id!r} has ended already")
        self.goal_id = goal_id


class SlotError(ValidationError):
    """A parameterised plan needs a slot the request does not provide."""

    def __init__(self, slot: str) -> None:
        super().__init__(f"the request has no entity for slot {slot!r}")
        self.slot = slot


class StoreError(OmniHubError):
    """The event store or another database operation failed."""


class ConcurrencyError(StoreError):
    """A stale ``expected_version``: another writer appended to the stream first."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        super().__init__(
            f"stream {stream_id!r} is at version {actual_version}, "
            f"not the expected {expected_version}"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class StoreUnavailableError(StoreError):
    """The storage backend could not be reached."""


class IntegrityError(OmniHubError):
    """Stored data failed verification, for example a broken hash chain."""


class NotFoundError(OmniHubError):
    """The requested goal, stream or resource does not exist for this caller."""


class ServerError(OmniHubError):
    """An embedded server (Temporal, PostgreSQL, Redis) could not be started or reached."""


class AuthenticationError(OmniHubError):
    """The caller could not be identified: a missing, malformed, unknown or revoked API key."""


class SignatureError(AuthenticationError):
    """A signed request failed verification: missing headers, expired, replayed or tampered."""


class PermissionDeniedError(OmniHubError):
    """The caller is known but its role does not allow this action."""


class PolicyDeniedError(PermissionDeniedError):
    """A tenant's Cedar policy set forbids a call; names the deciding policies and version."""

    def __init__(self, reason: str, *, policy_ids: list[str], version: int) -> None:
        super().__init__(reason)
        self.policy_ids = list(policy_ids)
        self.version = version


class PolicyValidationError(ValidationError):
    """A policy set was rejected before it was stored; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid policy set: " + "; ".join(problems))
        self.problems = list(problems)


class RateLimitedError(OmniHubError):
    """A tenant made more requests than its rate limit allows; retry after ``retry_after`` s."""

    def __init__(self, tenant_id: str, retry_after: float) -> None:
        super().__init__(
            f"tenant {tenant_id!r} is over its rate limit; retry in {retry_after:.2f} s"
        )
        self.tenant_id = tenant_id
        self.retry_after = retry_after


class PlanningError(OmniHubError):
    """No valid plan could be made for a goal; the message says why."""

    #: Whether retrying the same goal later may succeed (a saga activity's retry policy uses it).
    retryable: bool = False


class NoPlanError(PlanningError):
    """The offline playbook planner found no playbook matching the goal above its threshold."""


class InvalidPlanError(PlanningError):
    """The planner's plans stayed invalid after every repair turn; ``problems`` lists the last."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


class PlanRefusedError(PlanningError):
    """The model refused to plan the goal; reported as such and never retried."""


class BudgetExceededError(PlanningError):
    """The tenant is over its daily LLM budget; ``action`` is ``reject`` or ``hold``."""

    def __init__(self, message: str, tenant: str, action: str) -> None:
        super().__init__(message)
        self.tenant = tenant
        self.action = action


class ProviderError(PlanningError):
    """The LLM provider failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, provider: str, status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class ProviderRequestError(ProviderError):
    """The provider rejected the request (a 4xx other than 429); its message is kept."""


class ProviderRateLimitError(ProviderError):
    """Rate limited (429) past the retries, or asked to wait longer than allowed."""

    retryable = True

    def __init__(
        self,
        message: str,
        provider: str,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider, status)
        self.retry_after = retry_after


class ProviderUnavailableError(ProviderError):
    """Server errors (5xx) or timeouts persisted past the retries."""

    retryable = True


class PlanValidationError(ValidationError):
    """A plan failed validation before anything ran; ``problems`` lists every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid plan: " + "; ".join(problems))
        self.problems = list(problems)


class ToolNotFoundError(NotFoundError):
    """No tool is registered under this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no tool named {name!r} is registered")
        self.name = name


class ToolError(OmniHubError):
    """A tool call failed. ``non_retryable`` tells the saga not to retry it."""

    def __init__(self, message: str, *, non_retryable: bool = False) -> None:
        super().__init__(message)
        self.non_retryable = non_retryable


class DestinationRefusedError(ToolError):
    """The SSRF guard refused an HTTP destination (loopback, private, link-local, metadata)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"refused destination {host!r}: {reason}", non_retryable=True)
        self.host = host
        self.reason = reason
