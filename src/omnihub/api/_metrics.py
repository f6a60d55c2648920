"""Prometheus metrics of one app, in its own registry (several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from omnihub.telemetry import metrics


class ApiMetrics:
    """Request counts and latency by route, and rate-limit and auth refusals by tenant."""

    def __init__(self, *, tenant_labels: bool = False) -> None:
        self.tenant_labels = tenant_labels
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "omnihub_http_requests",
            "HTTP requests answered, by method, route template, status and tenant (- unless "
            "tenant labels are configured).",
            ["method", "route", "status", "tenant"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "omnihub_http_request_duration_seconds",
            "Time to the end of the response, by method and route template.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.rate_limited = Counter(
            "omnihub_rate_limited_requests",
            "Requests refused with 429, by tenant.",
            ["tenant"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "omnihub_auth_failures",
            "Requests refused with 401, by reason code.",
            ["code"],
            registry=self.registry,
        )

    def tenant_label(self, tenant_id: object) -> str:
        """The tenant label's value: the tenant id only when configured (``-`` otherwise), so
        whoever reads the metrics does not learn which tenants exist and how busy they are."""
        return str(tenant_id) if self.tenant_labels and tenant_id is not None else "-"

    def render(self) -> bytes:
        """The registry, then the process's runtime metrics (goals, steps, cache, LLM…), in
        the Prometheus text exposition format."""
        return generate_latest(self.registry) + metrics().render()
