"""Temporal's OpenTelemetry interceptor with the workflow's zero-length bookkeeping spans left
out: a goal's trace keeps StartWorkflow, RunWorkflow and every RunActivity (and everything
under them), so it stays one connected trace at fewer spans.

Left out, per goal: a ``StartActivity`` span before each activity (zero length, recorded by
the workflow at scheduling time; the ``RunActivity`` span that follows has the same
attributes and the real duration) and the ``CompleteWorkflow`` span of a goal that ended
normally (zero length; kept when the workflow failed, since it carries the failure). The
activity's context is still sent in its headers, so ``RunActivity`` is a child of the
workflow's context (the ``StartWorkflow`` span) as ``StartActivity`` was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.worker import WorkflowInterceptorClassInput


class _GoalWorkflowInterceptor(TracingWorkflowInboundInterceptor):
    """The workflow side: no span at an activity's start, none at a normal completion."""

    def __init__(self, next: Any) -> None:
        super().__init__(next)
        # The header of the last context sent: every activity of a run is started under the
        # workflow's one context, so it is encoded once per run rather than once per step.
        self._sent: tuple[int, Mapping[str, Payload]] | None = None

    def _context_to_headers(self, headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
        span_id = trace.get_current_span().get_span_context().span_id
        if self._sent is None or self._sent[0] != span_id:
            self._sent = (span_id, super()._context_to_headers({}))
        return {**headers, **self._sent[1]} if self._sent[1] else headers

    def _completed_span(self, span_name: str, **kwargs: Any) -> None:
        if span_name.startswith("StartActivity:"):
            # As the interceptor does: nothing while replaying (the activity ran already).
            outbound = kwargs.get("add_to_outbound")
            if outbound is not None and not workflow.unsafe.is_replaying():
                outbound.headers = self._context_to_headers(outbound.headers)
            return
        if span_name.startswith("CompleteWorkflow:") and kwargs.get("exception") is None:
            return
        super()._completed_span(span_name, **kwargs)


class GoalTracingInterceptor(TracingInterceptor):
    """Temporal's tracing interceptor (client, workflow and activity spans) without the
    zero-length ``StartActivity`` spans and the ``CompleteWorkflow`` span of a normal end."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the span extern it calls
        return _GoalWorkflowInterceptor
