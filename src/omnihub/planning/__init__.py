"""Planning: a goal becomes a validated plan — plan cache first, then an LLM or playbooks.

The flow (:class:`PlanningService`) looks the goal up in the plan cache, checks the tenant's
daily budget, asks the configured :class:`Planner` on a miss (OpenAI-compatible or Anthropic
models with a validate-and-repair loop, or the offline :class:`PlaybookPlanner`), records every
LLM call and cache saving in the usage ledger, and returns the PlanGenerated event's data.
"""

from omnihub.planning._anthropic import AnthropicMessagesClient
from omnihub.planning._budget import Budget, BudgetPolicy, BudgetVerdict
from omnihub.planning._cache_store import CachePlanStore, planner_cache_version
from omnihub.planning._events import BudgetExceeded, event_store_sink
from omnihub.planning._factory import (
    build_planner,
    build_planning_service,
    plan_goal,
    resolve_planner_kind,
)
from omnihub.planning._feedback import PlanFeedback, plan_failure
from omnihub.planning._flow import (
    CachedPlan,
    EventSink,
    PlanningOutcome,
    PlanningService,
    PlanStore,
)
from omnihub.planning._http import RetryPolicy
from omnihub.planning._ledger import (
    DEFAULT_PRICES,
    LedgerEntry,
    PriceTable,
    Spend,
    UsageLedger,
    UsageRow,
    open_ledger,
)
from omnihub.planning._ledger_postgres import PostgresUsageLedger
from omnihub.planning._ledger_sqlite import SQLiteUsageLedger
from omnihub.planning._llm import LLMPlanner, check_plan, parse_plan
from omnihub.planning._openai import OpenAIChatClient
from omnihub.planning._planner import LLMCall, Planner, PlannerResult, PlanRequest, UsageSink
from omnihub.planning._playbooks import (
    Playbook,
    PlaybookMatch,
    PlaybookPlanner,
    default_playbooks,
    load_playbook_file,
    load_playbooks,
)
from omnihub.planning._prompt import PROMPT_VERSION, ToolOutput, build_prompt, repair_message
from omnihub.planning._saga import RecentOutcomes, SagaPlanProvider
from omnihub.planning._types import PLAN_JSON_SCHEMA, Completion, ModelClient, Usage

__all__ = [
    "DEFAULT_PRICES",
    "PLAN_JSON_SCHEMA",
    "PROMPT_VERSION",
    "AnthropicMessagesClient",
    "Budget",
    "BudgetExceeded",
    "BudgetPolicy",
    "BudgetVerdict",
    "CachePlanStore",
    "CachedPlan",
    "Completion",
    "EventSink",
    "LLMCall",
    "LLMPlanner",
    "LedgerEntry",
    "ModelClient",
    "OpenAIChatClient",
    "PlanFeedback",
    "PlanRequest",
    "PlanStore",
    "Planner",
    "PlannerResult",
    "PlanningOutcome",
    "PlanningService",
    "Playbook",
    "PlaybookMatch",
    "PlaybookPlanner",
    "PostgresUsageLedger",
    "PriceTable",
    "RecentOutcomes",
    "RetryPolicy",
    "SQLiteUsageLedger",
    "SagaPlanProvider",
    "Spend",
    "ToolOutput",
    "Usage",
    "UsageLedger",
    "UsageRow",
    "UsageSink",
    "build_planner",
    "build_planning_service",
    "build_prompt",
    "check_plan",
    "default_playbooks",
    "event_store_sink",
    "load_playbook_file",
    "load_playbooks",
    "open_ledger",
    "parse_plan",
    "plan_failure",
    "plan_goal",
    "planner_cache_version",
    "repair_message",
    "resolve_planner_kind",
]
