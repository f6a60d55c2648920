"""The guard: tenant policies in Cedar and the provenance of values (a data-flow guard)."""

from __future__ import annotations

from omnihub.guard._engine import (
    Decision,
    PolicyEngine,
    PolicySet,
    Principal,
    ToolFacts,
    call_context,
    default_policy_set,
    default_policy_text,
    schema_text,
)
from omnihub.guard._provenance import (
    SINKS,
    Origin,
    PlanOrigin,
    Provenance,
    ProvenanceTracer,
    Sink,
    StepProvenance,
)

__all__ = [
    "SINKS",
    "Decision",
    "Origin",
    "PlanOrigin",
    "PolicyEngine",
    "PolicySet",
    "Principal",
    "Provenance",
    "ProvenanceTracer",
    "Sink",
    "StepProvenance",
    "ToolFacts",
    "call_context",
    "default_policy_set",
    "default_policy_text",
    "schema_text",
]
