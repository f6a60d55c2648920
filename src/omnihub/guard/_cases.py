"""Operators' unit tests for a policy set: example requests with the decisions they expect.

A cases file is YAML::

    cases:
      - name: wires wait for a person
        principal: {id: alice, role: operator}      # tenant defaults to "default"
        tool: {name: wire_transfer, risk: red, side_effect: true}
        args: {payee: bob@example.com, amount: 1200, currency: EUR}
        provenance: {payee: outside}                # optional: argument -> origin
        expect: approval                            # permit | forbid | approval
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from omnihub.errors import ValidationError
from omnihub.guard._engine import (
    Outcome,
    PolicyEngine,
    PolicySet,
    Principal,
    ToolFacts,
    call_context,
    default_policy_set,
)
from omnihub.guard._provenance import SINKS, Origin, Provenance, StepProvenance


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CasePrincipal(_Strict):
    id: str = "user"
    tenant: str = "default"
    role: str = "operator"
    kind: Literal["User", "ApiKey"] = "User"


class CaseTool(_Strict):
    name: str
    risk: str = "green"
    side_effect: bool = False


class PolicyCase(_Strict):
    """One example request and the outcome the operator expects."""

    name: str
    principal: CasePrincipal = Field(default_factory=CasePrincipal)
    tool: CaseTool
    args: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Origin] = Field(default_factory=dict)
    approved: bool = False
    expect: Outcome


@dataclass(frozen=True)
class CaseResult:
    name: str
    expected: str
    actual: str
    policy_ids: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.expected == self.actual


def load_cases(path: Path) -> list[PolicyCase]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise ValidationError(f"{path}: expected a mapping with a 'cases' list")
    try:
        return [PolicyCase.model_validate(item) for item in data["cases"]]
    except ValueError as exc:
        raise ValidationError(f"{path}: {exc}") from exc


def _provenance(case: PolicyCase) -> StepProvenance:
    args = {
        name: Provenance(frozenset({case.provenance.get(name, Origin.GOAL)})) for name in case.args
    }
    sinks = frozenset(
        sink
        for name, sink in SINKS.get(case.tool.name, {}).items()
        if name in args and args[name].untrusted and not case.approved
    )
    choice = Provenance(frozenset({Origin.PLANNER}))
    return StepProvenance(args=args, tool_choice=choice, untrusted_sinks=sinks)


def run_cases(policies: PolicySet | None, cases: list[PolicyCase]) -> list[CaseResult]:
    """Evaluate each case against ``policies`` (the defaults if None)."""
    engine = PolicyEngine(policies or default_policy_set())
    results = []
    for case in cases:
        p = case.principal
        principal = Principal(id=p.id, tenant=p.tenant, role=p.role, kind=p.kind)
        facts = ToolFacts(case.tool.name, case.tool.risk, case.tool.side_effect)
        context = call_context(
            facts,
            case.args,
            tenant=p.tenant,
            phase="step",
            provenance=_provenance(case),
            approved=case.approved,
            now=time.time(),
        )
        decision = engine.evaluate_call(principal, facts, context)
        results.append(CaseResult(case.name, case.expect, decision.outcome, decision.policy_ids))
    return results
