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
    defaults_permitting,
    schema_text,
)
from omnihub.guard._guard import RESERVED_STEP_IDS, Guard, PlanCheck, StepCheck
from omnihub.guard._provenance import (
    SINKS,
    Origin,
    PlanOrigin,
    Provenance,
    ProvenanceTracer,
    Sink,
    StepProvenance,
)
from omnihub.guard._store import POLICY_STREAM, PolicyStore

__all__ = [
    "POLICY_STREAM",
    "RESERVED_STEP_IDS",
    "SINKS",
    "Decision",
    "Guard",
    "Origin",
    "PlanCheck",
    "PlanOrigin",
    "PolicyEngine",
    "PolicySet",
    "PolicyStore",
    "Principal",
    "Provenance",
    "ProvenanceTracer",
    "Sink",
    "StepCheck",
    "StepProvenance",
    "ToolFacts",
    "call_context",
    "default_policy_set",
    "default_policy_text",
    "defaults_permitting",
    "schema_text",
]
