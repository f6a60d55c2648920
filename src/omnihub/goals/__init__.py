"""The application layer: every goal use case (submit, get, list, stream, decide, control)
once, in :class:`GoalService`, the only door the API, the console and the CLI use."""

from omnihub.goals._backend import TERMINAL_EVENTS, GoalBackend, SagaGoalBackend
from omnihub.goals._models import (
    CacheStats,
    ControlAction,
    ControlRequest,
    GoalAccepted,
    GoalDecision,
    GoalPage,
    GoalRequest,
    StreamEvent,
    TemplateHits,
    UsageReport,
    UsageTotals,
    WrongPlanReport,
    WrongPlanReported,
)
from omnihub.goals._reports import PlanReports
from omnihub.goals._service import GoalService, IdempotencyRecords, new_goal_id, request_hash
from omnihub.goals._stats import CacheStatsSource, StoreCacheStats, UsageSource

__all__ = [
    "TERMINAL_EVENTS",
    "CacheStats",
    "CacheStatsSource",
    "ControlAction",
    "ControlRequest",
    "GoalAccepted",
    "GoalBackend",
    "GoalDecision",
    "GoalPage",
    "GoalRequest",
    "GoalService",
    "IdempotencyRecords",
    "PlanReports",
    "SagaGoalBackend",
    "StoreCacheStats",
    "StreamEvent",
    "TemplateHits",
    "UsageReport",
    "UsageSource",
    "UsageTotals",
    "WrongPlanReport",
    "WrongPlanReported",
    "new_goal_id",
    "request_hash",
]
