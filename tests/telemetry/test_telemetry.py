"""The telemetry package in one process: tracing off by default at no cost, logs that carry
context and never secrets, metrics with bounded labels."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from omnihub.config import load_settings
from omnihub.telemetry import (
    configure_process,
    current_trace_id,
    inject_traceparent,
    metrics,
    observe_event,
    record_cache_lookup,
    scrub,
    span,
    tracing_requested,
)


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_ask(env: dict[str, str], wanted: bool) -> None:
    assert tracing_requested(env) is wanted


def test_with_tracing_off_spans_record_nothing_and_no_traceparent_is_sent() -> None:
    with span("work", {"omnihub.tool": "x"}) as current:
        assert not current.is_recording()
        assert current_trace_id() is None
        headers = inject_traceparent({"accept": "application/json"})
    assert headers == {"accept": "application/json"}


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    settings = load_settings(
        log_format="json",
        log_level="INFO",
        llm_api_key=SecretStr("provider-key-value-1234"),
        smtp_password="smtp-pass-value-5678",
        temporal_api_key="temporal-cloud-key-9012",
    )
    configure_process(settings, "test")
    (handler,) = [h for h in root.handlers if h.get_name() == "omnihub"]
    written = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    try:
        yield written
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def test_secrets_never_appear_in_logs(json_logs: io.StringIO) -> None:
    log = logging.getLogger("omnihub.test")
    log.warning("calling the provider with key provider-key-value-1234")
    log.warning("smtp login with smtp-pass-value-5678 and temporal-cloud-key-9012")
    log.warning("headers: Authorization: Bearer omk_live_abcdefghijkl")
    log.warning("created key omk_0123456789abcdef_Zm9vYmFyYmF6cXV4")
    log.warning("settings api_key=sk-unregistered-abcdef123456 password: hunter22")
    try:
        raise RuntimeError("boom with provider-key-value-1234")
    except RuntimeError:
        log.exception("failed")
    err = json_logs.getvalue()
    for secret in (
        "provider-key-value-1234",
        "smtp-pass-value-5678",
        "temporal-cloud-key-9012",
        "omk_live_abcdefghijkl",
        "omk_0123456789abcdef_Zm9vYmFyYmF6cXV4",
        "sk-unregistered-abcdef123456",
        "hunter22",
    ):
        assert secret not in err
    assert err.count("***") >= 7
    assert scrub("nothing secret here") == "nothing secret here"


def test_each_event_is_one_json_line_with_its_goal_and_tenant(
    json_logs: io.StringIO,
) -> None:
    observe_event("acme", "goal-1", "GoalCompleted", {"result": None})
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    (line,) = [entry for entry in lines if entry.get("event_type") == "GoalCompleted"]
    assert line["goal_id"] == "goal-1"
    assert line["tenant"] == "acme"
    assert line["level"] == "INFO"
    assert "trace_id" in line
    assert "span_id" in line


def _value(name: str, labels: dict[str, str]) -> float:
    return metrics().registry.get_sample_value(name, labels) or 0.0


def test_goal_events_are_counted_by_tenant_and_outcome_never_by_goal() -> None:
    before = _value("omnihub_goals_total", {"tenant": "t-metrics", "outcome": "compensated"})
    observe_event("t-metrics", "goal-xyz-1", "GoalReceived", {"goal": "g"})
    observe_event("t-metrics", "goal-xyz-1", "GoalFailed", {"compensations": ["s1"]})
    observe_event("t-metrics", "goal-xyz-1", "ApprovalRequested", {"step_id": "s2"})
    after = _value("omnihub_goals_total", {"tenant": "t-metrics", "outcome": "compensated"})
    assert after == before + 1
    assert _value("omnihub_approvals_waiting", {"tenant": "t-metrics"}) == 1
    observe_event("t-metrics", "goal-xyz-1", "ApprovalGranted", {"step_id": "s2"})
    assert _value("omnihub_approvals_waiting", {"tenant": "t-metrics"}) == 0
    assert _value("omnihub_approval_wait_seconds_count", {"tenant": "t-metrics"}) == 1
    record_cache_lookup("t-metrics", False, "below_threshold")
    exposed = metrics().render().decode()
    assert 'reason="below_threshold"' in exposed
    assert "goal-xyz-1" not in exposed
