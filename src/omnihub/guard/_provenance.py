"""Provenance of values: where each argument of a step came from, and which sinks it feeds.

A value comes from the user's goal text or context, from the planner (a playbook or a model),
from a tool's output (and from the outside world when that tool reads web pages, e-mail or
user-writable tables), or from a person's approval. Provenance follows ``$ref`` from one step's
output into the next step's arguments; a cached plan is traced afresh against the new goal,
because its values were filled from that goal's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from omnihub.plans import Plan, PlanStep
from omnihub.plans._refs import is_ref, parse_ref


class Origin(StrEnum):
    """One source a value can come from."""

    GOAL = "goal"
    CONTEXT = "context"
    PLANNER = "planner"
    TOOL = "tool"
    OUTSIDE = "outside"
    APPROVAL = "approval"


class Sink(StrEnum):
    """An argument where a value from the outside world must not land without approval."""

    RECIPIENT = "recipient"
    URL_HOST = "url_host"
    TABLE = "table"
    RECORD_ID = "record_id"
    PAYMENT_DESTINATION = "payment_destination"
    PAYMENT_AMOUNT = "payment_amount"
    TOOL_CHOICE = "tool_choice"


#: Which argument of which tool is which sink. Tools not listed have no argument sinks (the
#: choice of a side-effect tool is still a sink when the plan was made from untrusted text).
SINKS: Mapping[str, Mapping[str, Sink]] = {
    "send_email": {"to": Sink.RECIPIENT},
    "http_request": {"url": Sink.URL_HOST},
    "database_write": {"table": Sink.TABLE},
    "database_query": {"table": Sink.TABLE},
    "database_delete": {"table": Sink.TABLE, "id": Sink.RECORD_ID},
    "wire_transfer": {
        "payee": Sink.PAYMENT_DESTINATION,
        "amount": Sink.PAYMENT_AMOUNT,
        "currency": Sink.PAYMENT_AMOUNT,
    },
    "charge_card": {"amount": Sink.PAYMENT_AMOUNT, "currency": Sink.PAYMENT_AMOUNT},
    "refund_card": {"payment_id": Sink.PAYMENT_DESTINATION},
}

#: Tools whose output always carries outside-world text.
OUTSIDE_READERS: frozenset[str] = frozenset({"http_request", "read_inbox", "fetch_email"})

#: Tables anyone outside the tenant can write to (form posts, tickets, comments, mail).
DEFAULT_USER_WRITABLE_TABLES: frozenset[str] = frozenset(
    {"comments", "tickets", "messages", "inbox", "reviews", "support_requests"}
)


@dataclass(frozen=True)
class Provenance:
    """Where one value came from: every origin it mixes, and the steps it was read from."""

    origins: frozenset[Origin]
    steps: tuple[str, ...] = ()

    @property
    def untrusted(self) -> bool:
        """From the outside world and not approved by a person."""
        return Origin.OUTSIDE in self.origins and Origin.APPROVAL not in self.origins

    def merge(self, other: Provenance) -> Provenance:
        return Provenance(
            self.origins | other.origins, tuple(dict.fromkeys(self.steps + other.steps))
        )

    def approved(self) -> Provenance:
        return Provenance(self.origins | {Origin.APPROVAL}, self.steps)


@dataclass(frozen=True)
class PlanOrigin:
    """What the planner saw when it made a plan.

    ``outside_texts`` is untrusted text that was in the planner's input (a page, an e-mail or a
    tool error shown on replanning); when it is not empty the whole plan is *tainted*: values
    the planner wrote come from the outside world, and so does its choice of tools.
    """

    goal: str
    context: Mapping[str, Any] = field(default_factory=dict)
    outside_texts: tuple[str, ...] = ()

    @property
    def tainted(self) -> bool:
        return bool(self.outside_texts)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def _appears_in(text: str, haystack: str) -> bool:
    if not text:
        return False
    if len(text) < 3:
        return text.lower() in re.findall(r"\w+", haystack.lower())
    return text.lower() in haystack.lower()


@dataclass(frozen=True)
class _Origins:
    origin: PlanOrigin
    context_text: str

    def literal(self, value: Any) -> Provenance:
        """A value the planner wrote into the plan."""
        kinds: set[Origin] = set()
        for text in _strings(value):
            if any(_appears_in(text, outside) for outside in self.origin.outside_texts):
                kinds.add(Origin.OUTSIDE)
            elif _appears_in(text, self.origin.goal):
                kinds.add(Origin.GOAL)
            elif _appears_in(text, self.context_text):
                kinds.add(Origin.CONTEXT)
            else:
                # A value found nowhere in the input: the planner chose it; a planner that read
                # outside text may have been told to.
                kinds.add(Origin.OUTSIDE if self.origin.tainted else Origin.PLANNER)
        return Provenance(frozenset(kinds or {Origin.PLANNER}))


def trace_value(value: Any, origins: _Origins, outputs: Mapping[str, Provenance]) -> Provenance:
    """The provenance of one argument value (refs take their step output's provenance)."""
    if is_ref(value):
        step_id, _ = parse_ref(value["$ref"])
        # A step not traced yet is treated as untrusted: never fail open.
        unknown = Provenance(frozenset({Origin.TOOL, Origin.OUTSIDE}), (step_id,))
        return outputs.get(step_id, unknown)
    if isinstance(value, Mapping):
        parts = [trace_value(item, origins, outputs) for item in value.values()]
    elif isinstance(value, list):
        parts = [trace_value(item, origins, outputs) for item in value]
    else:
        return origins.literal(value)
    merged = Provenance(frozenset())
    for part in parts:
        merged = merged.merge(part)
    return merged if merged.origins else origins.literal(value)


@dataclass(frozen=True)
class StepProvenance:
    """The provenance of each top-level argument of a step, and the sinks fed untrusted."""

    args: Mapping[str, Provenance]
    tool_choice: Provenance
    untrusted_sinks: frozenset[Sink]

    @property
    def carries_tool_output(self) -> bool:
        return any(Origin.TOOL in p.origins for p in self.args.values())

    def arg_provenance(self) -> set[str]:
        return {f"{name}:{kind.value}" for name, p in self.args.items() for kind in p.origins}

    def kinds(self) -> set[str]:
        return {kind.value for p in self.args.values() for kind in p.origins}


class ProvenanceTracer:
    """Traces the arguments of every step of one plan, in order, through ``$ref``.

    ``reads_outside(tool, args)`` says whether a step's output carries outside-world text
    (:func:`reads_outside` by default).
    """

    def __init__(
        self,
        origin: PlanOrigin,
        *,
        user_writable_tables: Iterable[str] = DEFAULT_USER_WRITABLE_TABLES,
        outside_readers: Iterable[str] = OUTSIDE_READERS,
        side_effect_tools: Iterable[str] = (),
    ) -> None:
        self.origin = origin
        self.user_writable_tables = frozenset(user_writable_tables)
        self.outside_readers = frozenset(outside_readers)
        self.side_effect_tools = frozenset(side_effect_tools)
        context_text = " ".join(_strings(dict(origin.context)))
        self._origins = _Origins(origin, context_text)
        self.outputs: dict[str, Provenance] = {}

    def reads_outside(self, tool: str, args: Mapping[str, Any]) -> bool:
        if tool in self.outside_readers:
            return True
        return tool == "database_query" and args.get("table") in self.user_writable_tables

    def trace(self, step: PlanStep, *, approved: bool = False) -> StepProvenance:
        """The provenance of ``step``'s arguments; also records its output's provenance."""
        args: dict[str, Provenance] = {}
        for name, value in step.args.items():
            traced = trace_value(value, self._origins, self.outputs)
            args[name] = traced.approved() if approved else traced
        choice = Provenance(frozenset({Origin.OUTSIDE if self.origin.tainted else Origin.PLANNER}))
        if approved:
            choice = choice.approved()
        sinks = {
            sink
            for name, sink in SINKS.get(step.tool, {}).items()
            if name in args and args[name].untrusted
        }
        if choice.untrusted and step.tool in self.side_effect_tools:
            sinks.add(Sink.TOOL_CHOICE)
        out_kinds = {Origin.TOOL}
        if self.reads_outside(step.tool, step.args) or any(p.untrusted for p in args.values()):
            out_kinds.add(Origin.OUTSIDE)
        self.outputs[step.id] = Provenance(frozenset(out_kinds), (step.id,))
        return StepProvenance(args=args, tool_choice=choice, untrusted_sinks=frozenset(sinks))

    def trace_plan(self, plan: Plan) -> dict[str, StepProvenance]:
        """Every step's provenance, dependencies first (refs point to dependencies)."""
        traced: dict[str, StepProvenance] = {}
        pending = list(plan.steps)
        while pending:
            ready = [s for s in pending if all(d in traced for d in s.depends_on)] or pending[:1]
            for step in ready:
                traced[step.id] = self.trace(step)
                pending.remove(step)
        return {step.id: traced[step.id] for step in plan.steps}
