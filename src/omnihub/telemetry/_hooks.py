"""Hooks other layers call around their work: a span and the metrics of one piece of work in
a single ``with``, so each call site stays one line."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from opentelemetry.trace import Span

from omnihub.telemetry._metrics import record_step
from omnihub.telemetry._tracing import span


@contextlib.contextmanager
def tool_call(
    tool: str, kind: str, *, tenant: str, goal_id: str, step_id: str, attempt: int
) -> Iterator[Span]:
    """One tool call of a saga step (``kind``: ``do``, or ``undo`` for a compensation): the
    span ``tool.<name>`` (or ``compensate.<name>``), its latency and whether it failed."""
    name = f"tool.{tool}" if kind == "do" else f"compensate.{tool}"
    began = time.perf_counter()
    failed = True
    try:
        with span(
            name,
            {
                "omnihub.tool": tool,
                "omnihub.kind": kind,
                "omnihub.tenant": tenant,
                "omnihub.goal_id": goal_id,
                "omnihub.step_id": step_id,
                "omnihub.attempt": attempt,
            },
        ) as current:
            yield current
        failed = False
    finally:
        record_step(tool, kind, time.perf_counter() - began, failed=failed)
