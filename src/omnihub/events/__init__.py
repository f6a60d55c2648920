"""The event store: canonical events (CDM), hash-chained per stream, on SQLite or PostgreSQL.

Open one with :func:`open_event_store` (``sqlite:///PATH`` or ``postgresql://…``), append
:class:`NewEvent` objects carrying registered payload models, read them back as
:class:`EventEnvelope` objects, fold a goal's events into a :class:`GoalState`, and check the
hash chains with :func:`verify_store`.
"""

from omnihub.events._audit import (
    ChainBreak,
    VerifyReport,
    export_jsonl,
    verify_records,
    verify_store,
)
from omnihub.events._canonical import GENESIS_HASH, canonical_json, chain_hash
from omnihub.events._envelope import EventEnvelope, NewEvent
from omnihub.events._factory import open_event_store
from omnihub.events._goal_index import GoalSummary, IndexedGoal
from omnihub.events._ids import deterministic_event_id, new_event_id, validate_event_id
from omnihub.events._payloads import (
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    CacheDetails,
    CompensationExecuted,
    CompensationFailed,
    GoalCancelled,
    GoalCompleted,
    GoalFailed,
    GoalPaused,
    GoalReceived,
    GoalResumed,
    PlanGenerated,
    PlanStep,
    StepCompleted,
    StepFailed,
    StepStarted,
    TokenUsage,
    ToolExecuted,
    ToolExecutedV1,
)
from omnihub.events._projection import (
    CompensationRecord,
    GoalState,
    GoalStatus,
    StepState,
    StepStatus,
    project_goal,
)
from omnihub.events._registry import (
    EventPayload,
    EventRegistry,
    Upcaster,
    default_registry,
    register_event,
    register_upcaster,
)
from omnihub.events._schema import (
    JSON_VALUE_SCHEMA,
    AuditExportLine,
    cdm_json_schema,
    cdm_schema_text,
    event_adapter,
    event_list_adapter,
    event_models,
    tighten_schema,
)
from omnihub.events._sqlite import SQLiteEventStore
from omnihub.events._store import DEFAULT_MAX_PAYLOAD_BYTES, EventStore, StoredRecord
from omnihub.events._subscription import Subscription

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "GENESIS_HASH",
    "JSON_VALUE_SCHEMA",
    "ApprovalGranted",
    "ApprovalRejected",
    "ApprovalRequested",
    "AuditExportLine",
    "CacheDetails",
    "ChainBreak",
    "CompensationExecuted",
    "CompensationFailed",
    "CompensationRecord",
    "EventEnvelope",
    "EventPayload",
    "EventRegistry",
    "EventStore",
    "GoalCancelled",
    "GoalCompleted",
    "GoalFailed",
    "GoalPaused",
    "GoalReceived",
    "GoalResumed",
    "GoalState",
    "GoalStatus",
    "GoalSummary",
    "IndexedGoal",
    "NewEvent",
    "PlanGenerated",
    "PlanStep",
    "SQLiteEventStore",
    "StepCompleted",
    "StepFailed",
    "StepStarted",
    "StepState",
    "StepStatus",
    "StoredRecord",
    "Subscription",
    "TokenUsage",
    "ToolExecuted",
    "ToolExecutedV1",
    "Upcaster",
    "VerifyReport",
    "canonical_json",
    "cdm_json_schema",
    "cdm_schema_text",
    "chain_hash",
    "default_registry",
    "deterministic_event_id",
    "event_adapter",
    "event_list_adapter",
    "event_models",
    "export_jsonl",
    "new_event_id",
    "open_event_store",
    "project_goal",
    "register_event",
    "register_upcaster",
    "tighten_schema",
    "validate_event_id",
    "verify_records",
    "verify_store",
]
