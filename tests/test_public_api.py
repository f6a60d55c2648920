"""Pins the public names of each package's front door."""

from __future__ import annotations

import omnihub
import omnihub.config
import omnihub.servers


def test_root_public_names() -> None:
    assert "OmniHubError" in omnihub.__all__
    assert omnihub.__all__ == sorted(omnihub.__all__)


def test_config_public_names() -> None:
    assert omnihub.config.__all__ == [
        "HARD_MAX_DEPTH",
        "BackendKind",
        "BackendURL",
        "InputLimits",
        "Settings",
        "UnsupportedBackendError",
        "input_limits",
        "load_settings",
        "parse_backend_url",
        "private_dir",
        "private_file",
        "redact_url",
        "render_settings_table",
        "settings_table",
    ]


def test_servers_public_names() -> None:
    assert omnihub.servers.__all__ == sorted(omnihub.servers.__all__)


def test_every_error_derives_from_the_root() -> None:
    for name in omnihub.__all__:
        obj = getattr(omnihub, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, omnihub.OmniHubError)


def test_planning_public_names() -> None:
    import omnihub.planning

    assert set(omnihub.planning.__all__) == {
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
    }
    for name in omnihub.planning.__all__:
        assert getattr(omnihub.planning, name) is not None


def test_goals_public_names() -> None:
    import omnihub.goals

    assert omnihub.goals.__all__ == [
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
    for name in omnihub.goals.__all__:
        assert getattr(omnihub.goals, name) is not None


def test_runtime_public_names() -> None:
    import omnihub.runtime

    assert omnihub.runtime.__all__ == [
        "ApiServer",
        "ServerFactory",
        "Services",
        "StackInfo",
        "Temporal",
        "configure_observability",
        "goals_of",
        "open_core_services",
        "open_idempotency_store",
        "open_key_store",
        "open_nonce_store",
        "open_planner",
        "open_rate_limiter",
        "open_services",
        "open_store",
        "open_temporal",
        "run_stack",
        "run_worker",
        "running_services",
        "temporal_supervisor",
        "traced_client",
        "worker_metrics",
    ]
    for name in omnihub.runtime.__all__:
        assert getattr(omnihub.runtime, name) is not None


def test_telemetry_public_names() -> None:
    import omnihub.telemetry

    assert omnihub.telemetry.__all__ == sorted(omnihub.telemetry.__all__)
    assert omnihub.telemetry.__all__ == [
        "JsonFormatter",
        "MetricsServer",
        "RuntimeMetrics",
        "configure_logging",
        "configure_process",
        "configure_tracing",
        "current_ids",
        "current_trace_id",
        "flush_tracing",
        "inject_traceparent",
        "install_temporal_metrics",
        "mark_error",
        "metrics",
        "observe_event",
        "record_append",
        "record_audit",
        "record_budget_exceeded",
        "record_cache_lookup",
        "record_false_hit",
        "record_llm_call",
        "record_step",
        "redact",
        "scrub",
        "set_attributes",
        "span",
        "temporal_interceptors",
        "tool_call",
        "tracing_enabled",
        "tracing_requested",
    ]
    for name in omnihub.telemetry.__all__:
        assert getattr(omnihub.telemetry, name) is not None
