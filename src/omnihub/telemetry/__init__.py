"""Observability: OpenTelemetry traces (off unless the ``OTEL_*`` variables configure them),
Prometheus metrics of the runtime, and structured logs with trace ids and masked secrets.

A ground-floor package: every layer records through it, and ``omnihub.runtime`` configures it
once per process.
"""

from omnihub.telemetry._hooks import tool_call
from omnihub.telemetry._logging import JsonFormatter, configure_logging, redact, scrub
from omnihub.telemetry._metrics import (
    MetricsServer,
    RuntimeMetrics,
    install_temporal_metrics,
    metrics,
    observe_event,
    record_append,
    record_audit,
    record_budget_exceeded,
    record_cache_lookup,
    record_false_hit,
    record_llm_call,
    record_step,
)
from omnihub.telemetry._setup import configure_process
from omnihub.telemetry._tracing import (
    configure_tracing,
    current_ids,
    current_trace_id,
    flush_tracing,
    inject_traceparent,
    mark_error,
    set_attributes,
    span,
    temporal_interceptors,
    tracing_enabled,
    tracing_requested,
)

__all__ = [
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
