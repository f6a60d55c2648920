"""The guard's two checkpoints: a whole plan when it is made, and one step before it runs.

Both trace provenance through the plan, build each call's Cedar context and ask the engine;
the plan check also writes the repair message a planner gets for forbidden steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from omnihub.errors import PolicyDeniedError
from omnihub.events import PolicyEvaluated
from omnihub.guard._engine import (
    Decision,
    PolicyEngine,
    Principal,
    ToolFacts,
    call_context,
    defaults_permitting,
)
from omnihub.guard._provenance import (
    DEFAULT_USER_WRITABLE_TABLES,
    OUTSIDE_READERS,
    PlanOrigin,
    ProvenanceTracer,
    StepProvenance,
)
from omnihub.plans import Plan
from omnihub.tools import ToolRegistry

#: Step ids a plan may not use: they name events and saga bookkeeping in logs and streams.
RESERVED_STEP_IDS = frozenset(
    {"goal", "plan", "policy", "approval", "compensation", "saga", "system", "policy-set"}
)


@dataclass(frozen=True)
class StepCheck:
    """One step's decision with the provenance it was made on."""

    step_id: str
    tool: str
    decision: Decision
    provenance: StepProvenance | None

    def event(self, phase: Literal["plan", "step"]) -> PolicyEvaluated:
        """The PolicyEvaluated event recording this decision."""
        return PolicyEvaluated(
            phase=phase,
            action="call",
            resource=self.tool,
            outcome=self.decision.outcome,
            policy_ids=list(self.decision.policy_ids),
            version=self.decision.version,
            reason=self.decision.reason,
            step_id=self.step_id,
            untrusted_sinks=sorted(s.value for s in self.provenance.untrusted_sinks)
            if self.provenance
            else [],
        )


@dataclass(frozen=True)
class PlanCheck:
    """Every step's decision for one plan."""

    steps: tuple[StepCheck, ...]

    @property
    def forbidden(self) -> list[StepCheck]:
        return [c for c in self.steps if c.decision.outcome == "forbid"]

    @property
    def needs_approval(self) -> list[StepCheck]:
        return [c for c in self.steps if c.decision.outcome == "approval"]

    def denied(self) -> PolicyDeniedError:
        """The error a plan with forbidden steps fails with: every reason, every policy."""
        forbidden = self.forbidden
        return PolicyDeniedError(
            "forbidden by policy: " + "; ".join(c.decision.reason for c in forbidden),
            policy_ids=sorted({i for c in forbidden for i in c.decision.policy_ids}),
            version=max((c.decision.version for c in forbidden), default=0),
        )

    def repair_message(self) -> str:
        """What the planner is told when steps are forbidden (empty when none is)."""
        lines = [f"- step {c.step_id!r} ({c.tool}): {c.decision.reason}" for c in self.forbidden]
        if not lines:
            return ""
        return (
            "The tenant's policy forbids these steps; make a plan without them, or one that "
            "reaches the goal another way:\n" + "\n".join(lines)
        )


class Guard:
    """Checks plans and steps against one tenant's policies (``engine_for(tenant)``)."""

    def __init__(
        self,
        registry: ToolRegistry,
        engine_for: Callable[[str], PolicyEngine] = lambda _tenant: PolicyEngine(),
        *,
        user_writable_tables: Iterable[str] = DEFAULT_USER_WRITABLE_TABLES,
        outside_readers: Iterable[str] = OUTSIDE_READERS,
    ) -> None:
        self.registry = registry
        self.engine_for = engine_for
        self.user_writable_tables = frozenset(user_writable_tables)
        self.outside_readers = frozenset(outside_readers)
        self._index: tuple[int, list[str], list[str]] = (-1, [], [])

    def _tools(self) -> tuple[list[str], list[str]]:
        """The registry's tool names and its side-effect tools, recomputed only when a tool
        was registered since (a registry only grows): listing them on every decision was a
        third of the guard's own time per step (`omnihub bench policy`)."""
        size, names, side_effects = self._index
        if size != len(self.registry):
            names = self.registry.names()
            side_effects = [n for n in names if self.registry.get(n).side_effect]
            self._index = (len(self.registry), names, side_effects)
        return names, side_effects

    @classmethod
    def permitting(cls, registry: ToolRegistry, tools: Iterable[str] | None = None) -> Guard:
        """A guard that decides every tenant by the defaults plus an explicit permit for
        ``tools`` (every tool of ``registry`` when None): for a worker whose operator
        registered its own tools, and for test kits. Red-lane tools still wait for a person."""
        engine = PolicyEngine(defaults_permitting(registry.names() if tools is None else tools))
        return cls(registry, lambda _tenant: engine)

    def _facts(self, name: str) -> ToolFacts | None:
        if name not in self.registry:
            return None
        spec = self.registry.get(name)
        return ToolFacts(
            name=spec.name,
            risk=spec.risk.value,
            side_effect=spec.side_effect,
            reads_outside=spec.name in self.outside_readers,
        )

    def offered_tools(self, principal: Principal) -> frozenset[str]:
        """The tools ``principal``'s policy could ever let run: each is decided once with no
        arguments, trusted provenance and an approval granted, and a tool forbidden even so is
        never offered to the planner (it could only produce a plan that fails)."""
        engine = self.engine_for(principal.tenant)
        offered: set[str] = set()
        for name in self.registry.names():
            facts = self._facts(name)
            if facts is None:
                continue
            context = call_context(facts, {}, tenant=principal.tenant, phase="plan", approved=True)
            if engine.evaluate_call(principal, facts, context).outcome != "forbid":
                offered.add(name)
        return frozenset(offered)

    def tracer(self, origin: PlanOrigin) -> ProvenanceTracer:
        _, side_effects = self._tools()
        return ProvenanceTracer(
            origin,
            user_writable_tables=self.user_writable_tables,
            outside_readers=self.outside_readers,
            side_effect_tools=side_effects,
        )

    def _decide(
        self,
        engine: PolicyEngine,
        principal: Principal,
        step_id: str,
        tool: str,
        args: Mapping[str, Any],
        provenance: StepProvenance,
        *,
        phase: Literal["plan", "step"],
        approved: bool,
        spend_cents: int,
    ) -> StepCheck:
        if step_id in RESERVED_STEP_IDS:
            reason = f"call {tool}: step id {step_id!r} is reserved"
            decision = Decision("forbid", ("reserved-step-id",), engine.version, reason)
            return StepCheck(step_id, tool, decision, provenance)
        facts = self._facts(tool)
        if facts is None:
            reason = f"call {tool}: no such tool is registered (fail closed)"
            decision = Decision("forbid", (), engine.version, reason)
            return StepCheck(step_id, tool, decision, provenance)
        context = call_context(
            facts,
            args,
            tenant=principal.tenant,
            phase=phase,
            provenance=provenance,
            approved=approved,
            known_tools=self._tools()[0],
            spend_cents=spend_cents,
        )
        decision = engine.evaluate_call(principal, facts, context)
        return StepCheck(step_id, tool, decision, provenance)

    def check_plan(self, principal: Principal, plan: Plan, origin: PlanOrigin) -> PlanCheck:
        """Decide every step of ``plan`` with its literal arguments (refs: provenance only)."""
        engine = self.engine_for(principal.tenant)
        traced = self.tracer(origin).trace_plan(plan)
        checks = [
            self._decide(
                engine,
                principal,
                step.id,
                step.tool,
                step.args,
                traced[step.id],
                phase="plan",
                approved=False,
                spend_cents=0,
            )
            for step in plan.steps
        ]
        return PlanCheck(tuple(checks))

    def check_step(
        self,
        principal: Principal,
        plan: Plan,
        origin: PlanOrigin,
        step_id: str,
        resolved_args: Mapping[str, Any],
        *,
        approved_steps: Iterable[str] = (),
        spend_cents: int = 0,
    ) -> StepCheck:
        """Decide one step just before it runs, with its resolved arguments.

        ``approved_steps`` are steps a person approved: their values carry the provenance
        ``approval`` (which lifts the data-flow guard) and their approval is satisfied.
        """
        engine = self.engine_for(principal.tenant)
        approved = set(approved_steps)
        tracer = self.tracer(origin)
        traced: StepProvenance | None = None
        pending = list(plan.steps)
        done: set[str] = set()
        while pending and traced is None:
            ready = [s for s in pending if all(d in done for d in s.depends_on)] or pending[:1]
            for step in ready:
                result = tracer.trace(step, approved=step.id in approved)
                done.add(step.id)
                pending.remove(step)
                if step.id == step_id:
                    traced = result
                    break
        step = plan.step(step_id)
        if traced is None:  # unreachable for a step of the plan; fail closed all the same
            traced = tracer.trace(step)
        check = self._decide(
            engine,
            principal,
            step_id,
            step.tool,
            resolved_args,
            traced,
            phase="step",
            approved=step_id in approved,
            spend_cents=spend_cents,
        )
        if check.decision.outcome == "approval" and step_id in approved:
            decision = check.decision
            satisfied = Decision(
                "permit",
                decision.policy_ids,
                decision.version,
                decision.reason.replace("needs approval", "approved"),
                decision.errors,
                decision.elapsed_ms,
            )
            return StepCheck(step_id, step.tool, satisfied, traced)
        return check
