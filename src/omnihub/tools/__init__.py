"""Tools agents call: the ``@tool`` decorator, the registry and catalog, the built-in tools
(database, HTTP, email, answer), and the idempotency ledger behind exactly-once effects."""

from omnihub.tools._database import (
    DatabaseDeleteInput,
    DatabaseDeleteOutput,
    DatabaseQueryInput,
    DatabaseQueryOutput,
    DatabaseWriteInput,
    DatabaseWriteOutput,
)
from omnihub.tools._email import SendEmailInput, SendEmailOutput, message_id_for
from omnihub.tools._execute import execute_tool
from omnihub.tools._http import HttpRequestInput, HttpRequestOutput, Resolver, refusal_reason
from omnihub.tools._ledger import IdempotencyLedger, idempotency_key
from omnihub.tools._registry import (
    RespondInput,
    RespondOutput,
    ToolRegistry,
    builtin_tools,
    default_registry,
)
from omnihub.tools._resources import SmtpConfig, ToolResources
from omnihub.tools._spec import (
    Compensation,
    RetrySpec,
    RiskLane,
    ToolContext,
    ToolFunc,
    ToolSpec,
    tool,
)
from omnihub.tools._sql import (
    PostgresDatabase,
    SqlCursor,
    SqlDatabase,
    SQLiteDatabase,
    open_database,
)

__all__ = [
    "Compensation",
    "DatabaseDeleteInput",
    "DatabaseDeleteOutput",
    "DatabaseQueryInput",
    "DatabaseQueryOutput",
    "DatabaseWriteInput",
    "DatabaseWriteOutput",
    "HttpRequestInput",
    "HttpRequestOutput",
    "IdempotencyLedger",
    "PostgresDatabase",
    "Resolver",
    "RespondInput",
    "RespondOutput",
    "RetrySpec",
    "RiskLane",
    "SQLiteDatabase",
    "SendEmailInput",
    "SendEmailOutput",
    "SmtpConfig",
    "SqlCursor",
    "SqlDatabase",
    "ToolContext",
    "ToolFunc",
    "ToolRegistry",
    "ToolResources",
    "ToolSpec",
    "builtin_tools",
    "default_registry",
    "execute_tool",
    "idempotency_key",
    "message_id_for",
    "open_database",
    "refusal_reason",
    "tool",
]
