"""Plan-cache metrics: hits, misses by reason, latency split, planner calls, tokens saved."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omnihub import telemetry

LATENCY_WINDOW = 100_000
STAGES = ("embed", "search", "guards", "total")


def percentiles(samples: list[float] | deque[float]) -> dict[str, float]:
    """``{"p50", "p99"}`` in milliseconds of samples given in seconds (0 when empty)."""
    if not samples:
        return {"p50": 0.0, "p99": 0.0}
    values = np.asarray(samples, dtype=np.float64) * 1000.0
    return {
        "p50": round(float(np.percentile(values, 50)), 4),
        "p99": round(float(np.percentile(values, 99)), 4),
    }


@dataclass
class CacheMetrics:
    """Counters for one process. Thread-safe; :meth:`snapshot` is JSON-ready.

    Tenant labels: hits and misses are also counted per tenant.
    """

    hits: int = 0
    misses: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    by_tenant: Counter[str] = field(default_factory=Counter)
    planner_calls: int = 0
    tokens_saved: int = 0
    errors: int = 0
    plan_failures: int = 0
    false_hit_reports: int = 0
    evictions: Counter[str] = field(default_factory=Counter)
    latency: dict[str, deque[float]] = field(
        default_factory=lambda: {s: deque(maxlen=LATENCY_WINDOW) for s in STAGES}
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, tenant: str, hit: bool, reason: str | None, timings: dict[str, float]) -> None:
        telemetry.record_cache_lookup(tenant, hit, reason)  # obs hook: the Prometheus counter
        with self._lock:
            if hit:
                self.hits += 1
                self.by_tenant[f"{tenant}:hit"] += 1
            else:
                self.misses[reason or "unknown"] += 1
                self.by_tenant[f"{tenant}:miss"] += 1
            for stage, seconds in timings.items():
                self.latency[stage].append(seconds)

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejections[reason] += 1

    def evict(self, reason: str) -> None:
        with self._lock:
            self.evictions[reason] += 1

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": dict(sorted(self.misses.items())),
                "rejections": dict(sorted(self.rejections.items())),
                "by_tenant": dict(sorted(self.by_tenant.items())),
                "planner_calls": self.planner_calls,
                "tokens_saved": self.tokens_saved,
                "errors": self.errors,
                "plan_failures": self.plan_failures,
                "false_hit_reports": self.false_hit_reports,
                "evictions": dict(sorted(self.evictions.items())),
                "latency_ms": {s: percentiles(self.latency[s]) for s in STAGES},
            }
