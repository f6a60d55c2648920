"""Prometheus metrics of the runtime (goals, steps, compensations, approvals, plan cache, LLM
spend, budgets, event store, audit), in one registry per process, served by the API at
``/metrics`` and by each worker on ``worker_metrics_port``.

Labels are bounded: tenant, tool, model, outcome and reason names only, never a goal, step or
event id. Each layer records through the small ``record_*``/``observe_*`` functions here, so
it never holds a metrics object.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger("omnihub.events")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
# Approvals remembered at once: beyond it the oldest are forgotten (bounded memory).
_MAX_WAITING = 10_000

# Goal events that change a goal's lifecycle count, by the outcome label they count under.
_GOAL_OUTCOMES = {
    "GoalReceived": "started",
    "GoalCompleted": "completed",
    "GoalFailed": "failed",
    "GoalCancelled": "cancelled",
}


class _Approvals(Collector):
    """Approvals waiting in this process, and the age of the oldest, by tenant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str, str], float] = {}

    def requested(self, tenant: str, goal_id: str, step_id: str) -> None:
        with self._lock:
            if len(self._waiting) >= _MAX_WAITING:
                self._waiting.pop(next(iter(self._waiting)))
            self._waiting.setdefault((tenant, goal_id, step_id), time.monotonic())

    def decided(self, tenant: str, goal_id: str, step_id: str) -> float | None:
        with self._lock:
            since = self._waiting.pop((tenant, goal_id, step_id), None)
        return None if since is None else time.monotonic() - since

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "omnihub_approvals_waiting", "Approvals waiting for a decision.", labels=["tenant"]
        )
        oldest = GaugeMetricFamily(
            "omnihub_approval_oldest_wait_seconds",
            "Age of the oldest approval still waiting.",
            labels=["tenant"],
        )
        now = time.monotonic()
        counts: dict[str, int] = {}
        ages: dict[str, float] = {}
        with self._lock:
            for (tenant, _, _), since in self._waiting.items():
                counts[tenant] = counts.get(tenant, 0) + 1
                ages[tenant] = max(ages.get(tenant, 0.0), now - since)
        for tenant in sorted(counts):
            waiting.add_metric([tenant], counts[tenant])
            oldest.add_metric([tenant], ages[tenant])
        yield waiting
        yield oldest

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Without describe, registering would call collect(); names are what matters here.
        yield GaugeMetricFamily("omnihub_approvals_waiting", "", labels=["tenant"])
        yield GaugeMetricFamily("omnihub_approval_oldest_wait_seconds", "", labels=["tenant"])


class RuntimeMetrics:
    """Every runtime metric, in its own registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.goals = Counter(
            "omnihub_goals",
            "Goals by tenant and outcome (started, completed, failed, compensated, cancelled).",
            ["tenant", "outcome"],
            registry=registry,
        )
        self.step_duration = Histogram(
            "omnihub_step_duration_seconds",
            "Time of one tool call, by tool and kind (do, undo).",
            ["tool", "kind"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.step_failures = Counter(
            "omnihub_step_failures", "Failed tool calls, by tool.", ["tool"], registry=registry
        )
        self.compensations = Counter(
            "omnihub_compensations",
            "Compensations by tenant and outcome (executed, failed).",
            ["tenant", "outcome"],
            registry=registry,
        )
        self.approval_wait = Histogram(
            "omnihub_approval_wait_seconds",
            "Time from an approval's request to its decision, by tenant.",
            ["tenant"],
            buckets=(1, 10, 60, 300, 900, 3600, 4 * 3600, 86400),
            registry=registry,
        )
        self.approvals = _Approvals()
        registry.register(self.approvals)
        self.cache_lookups = Counter(
            "omnihub_cache_lookups",
            "Plan-cache lookups by tenant, outcome (hit, miss) and the reason of a miss.",
            ["tenant", "outcome", "reason"],
            registry=registry,
        )
        self.cache_false_hits = Counter(
            "omnihub_cache_false_hit_reports",
            "Cached plans reported as wrong for their goal, by tenant.",
            ["tenant"],
            registry=registry,
        )
        self.llm_tokens = Counter(
            "omnihub_llm_tokens",
            "LLM tokens by tenant, model and direction (input, output).",
            ["tenant", "model", "direction"],
            registry=registry,
        )
        self.llm_cost = Counter(
            "omnihub_llm_cost_usd",
            "LLM spend in USD by tenant and model.",
            ["tenant", "model"],
            registry=registry,
        )
        self.llm_duration = Histogram(
            "omnihub_llm_request_duration_seconds",
            "Time of one LLM call, by model.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.budget = Counter(
            "omnihub_budget_exceeded",
            "Goals stopped by a tenant's LLM budget, by action (hold, refuse).",
            ["tenant", "action"],
            registry=registry,
        )
        self.append_duration = Histogram(
            "omnihub_event_append_duration_seconds",
            "Time of one event-store append (one batch).",
            buckets=_FAST_BUCKETS,
            registry=registry,
        )
        self.append_batch = Histogram(
            "omnihub_event_append_batch_size",
            "Events in one append.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        )
        self.audit = Counter(
            "omnihub_audit_verifications",
            "Hash-chain verifications by result (ok, broken).",
            ["result"],
            registry=registry,
        )
        self.audit_broken_streams = Counter(
            "omnihub_audit_broken_streams",
            "Streams found with a broken hash chain, over all verifications.",
            registry=registry,
        )

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)


_lock = threading.Lock()
_metrics: RuntimeMetrics | None = None


def metrics() -> RuntimeMetrics:
    """This process's runtime metrics (built on first use, never at import)."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = RuntimeMetrics()
    return _metrics


def observe_event(tenant: str, goal_id: str, event_type: str, payload: Mapping[str, Any]) -> None:
    """Count one goal event appended by the runtime (goal outcomes, compensations, approvals)."""
    # The structured log line of the event (JSON with log_format=json).
    logger.info(
        "%s", event_type, extra={"goal_id": goal_id, "tenant": tenant, "event_type": event_type}
    )
    m = metrics()
    outcome = _GOAL_OUTCOMES.get(event_type)
    if outcome is not None:
        if outcome == "failed" and payload.get("compensations"):
            outcome = "compensated"
        m.goals.labels(tenant, outcome).inc()
    elif event_type == "CompensationExecuted":
        m.compensations.labels(tenant, "executed").inc()
    elif event_type == "CompensationFailed":
        m.compensations.labels(tenant, "failed").inc()
    elif event_type == "ApprovalRequested":
        m.approvals.requested(tenant, goal_id, str(payload.get("step_id")))
    elif event_type in ("ApprovalGranted", "ApprovalRejected"):
        waited = m.approvals.decided(tenant, goal_id, str(payload.get("step_id")))
        if waited is not None:
            m.approval_wait.labels(tenant).observe(waited)


def record_step(tool: str, kind: str, seconds: float, *, failed: bool) -> None:
    """One tool call's latency (``kind``: do or undo) and whether it failed."""
    m = metrics()
    m.step_duration.labels(tool, kind).observe(seconds)
    if failed:
        m.step_failures.labels(tool).inc()


def record_cache_lookup(tenant: str, hit: bool, reason: str | None) -> None:
    """One plan-cache lookup: a hit, or a miss with its reason."""
    outcome = "hit" if hit else "miss"
    metrics().cache_lookups.labels(tenant, outcome, "" if hit else reason or "unknown").inc()


def record_false_hit(tenant: str) -> None:
    """A cached plan reported as wrong for its goal."""
    metrics().cache_false_hits.labels(tenant).inc()


def record_llm_call(
    tenant: str,
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float | None,
    seconds: float,
) -> None:
    """One LLM call's tokens, cost and latency."""
    m = metrics()
    m.llm_tokens.labels(tenant, model, "input").inc(input_tokens)
    m.llm_tokens.labels(tenant, model, "output").inc(output_tokens)
    if cost_usd:
        m.llm_cost.labels(tenant, model).inc(cost_usd)
    m.llm_duration.labels(model).observe(seconds)


def record_budget_exceeded(tenant: str, action: str) -> None:
    """A goal stopped by its tenant's budget (``action``: hold or refuse)."""
    metrics().budget.labels(tenant, action).inc()


def record_append(seconds: float, batch_size: int) -> None:
    """One event-store append."""
    m = metrics()
    m.append_duration.observe(seconds)
    m.append_batch.observe(batch_size)


def record_audit(broken_streams: int) -> None:
    """One hash-chain verification and how many streams it found broken."""
    m = metrics()
    m.audit.labels("broken" if broken_streams else "ok").inc()
    if broken_streams:
        m.audit_broken_streams.inc(broken_streams)


class MetricsServer:
    """``/metrics`` of this process's runtime metrics on its own port (workers; the API
    serves them on its own ``/metrics``). Stop with :meth:`close`."""

    def __init__(self, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(port, host, registry=metrics().registry)
        self.port = int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def install_temporal_metrics(host: str, port: int) -> None:
    """Make the Temporal SDK serve its own metrics (workflow and activity task latencies,
    slots, polls…) on ``host:port`` through its Prometheus exporter. Affects the Temporal
    clients this process connects from now on (the SDK's default runtime)."""
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )
    Runtime.set_default(runtime, error_if_already_set=False)
