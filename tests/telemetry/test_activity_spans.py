"""The runtime's ``RunActivity`` span (a leaner interceptor than the SDK's) is the span
Temporal's own OpenTelemetry interceptor records: same name, kind, parent, attributes,
status and exception event, for an activity that succeeds, fails, or fails benignly."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.exceptions import ActivityError, ApplicationError, ApplicationErrorCategory
from temporalio.worker import Worker

from omnihub.saga import workflow_runner
from omnihub.servers import EmbeddedTemporal
from omnihub.telemetry._temporal import GoalTracingInterceptor


@activity.defn
async def succeeds() -> str:
    return "ok"


@activity.defn
async def fails() -> str:
    raise ApplicationError("the tool refused", non_retryable=True)


@activity.defn
async def fails_benignly() -> str:
    raise ApplicationError(
        "nothing to do", non_retryable=True, category=ApplicationErrorCategory.BENIGN
    )


@workflow.defn
class ThreeActivities:
    @workflow.run
    async def run(self) -> list[str]:
        outcomes = []
        for act in (succeeds, fails, fails_benignly, succeeds):
            try:
                outcomes.append(
                    await workflow.execute_activity(
                        act,
                        start_to_close_timeout=timedelta(seconds=10),
                        retry_policy=RetryPolicy(maximum_attempts=1),
                    )
                )
            except ActivityError:
                outcomes.append("failed")
        return outcomes


class _SdkActivitySpans(GoalTracingInterceptor):
    """The runtime's interceptor with the SDK's own activity side: the only difference from
    the runtime's is the interceptor that records RunActivity."""

    intercept_activity = TracingInterceptor.intercept_activity


async def _run_activity_spans(
    temporal_server: EmbeddedTemporal, interceptor: TracingInterceptor
) -> list[dict[str, Any]]:
    """The workflow run through ``interceptor`` on a provider of its own; each RunActivity
    span, as what a collector would see of it (ids replaced by the span's relation to the
    StartWorkflow span)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    interceptor.tracer = provider.get_tracer("test")
    client = await Client.connect(temporal_server.address, interceptors=[interceptor])
    queue = f"spans-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ThreeActivities],
        activities=[succeeds, fails, fails_benignly],
        workflow_runner=workflow_runner(),
    ):
        outcomes = await client.execute_workflow(ThreeActivities.run, id=queue, task_queue=queue)
    assert outcomes == ["ok", "failed", "failed", "ok"]
    spans = exporter.get_finished_spans()
    provider.shutdown()
    (start,) = [s for s in spans if s.name == "StartWorkflow:ThreeActivities"]

    def seen(span: ReadableSpan) -> dict[str, Any]:
        assert span.parent is not None
        assert span.context is not None
        assert start.context is not None
        return {
            "name": span.name,
            "kind": span.kind,
            "parent_is_start": span.parent.span_id == start.context.span_id,
            "same_trace": span.context.trace_id == start.context.trace_id,
            "attributes": sorted(dict(span.attributes or {})),
            "status": (span.status.status_code, span.status.description),
            "events": [
                (e.name, (e.attributes or {}).get("exception.message")) for e in span.events
            ],
        }

    return [seen(s) for s in spans if s.name.startswith("RunActivity:")]


async def test_run_activity_spans_match_temporals_interceptor(
    temporal_server: EmbeddedTemporal,
) -> None:
    theirs = await _run_activity_spans(temporal_server, _SdkActivitySpans())
    mine = await _run_activity_spans(temporal_server, GoalTracingInterceptor())
    assert mine == theirs
    # What both record: the failure an error with its exception event, the benign one not an
    # error, and every activity a child of the client's StartWorkflow span.
    assert [s["name"] for s in mine] == [
        "RunActivity:succeeds",
        "RunActivity:fails",
        "RunActivity:fails_benignly",
        "RunActivity:succeeds",
    ]
    assert all(s["parent_is_start"] and s["same_trace"] for s in mine)
    assert mine[1]["status"][1] == "ApplicationError: the tool refused"
    assert mine[1]["events"] == [("exception", "the tool refused")]
    assert mine[2]["status"][1] is None
    assert mine[2]["events"] == [("exception", "nothing to do")]
