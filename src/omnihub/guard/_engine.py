"""The policy engine: Cedar policy sets validated against OmniHub's schema, and decisions.

Outcomes are permit, forbid, or approval: a permit where at least one satisfied permit policy
carries ``@approval("required")``. Cedar denies what no policy permits and lets any forbid win,
so a set is fail-closed by construction; an evaluation error is a forbid too.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import cedarpy

from omnihub.errors import PolicyValidationError
from omnihub.guard._provenance import StepProvenance

POLICY_DIR = Path(__file__).parent / "policies"

Outcome = Literal["permit", "forbid", "approval"]
Action = Literal[
    "call", "submit", "approve", "cancel", "apply_policy", "manage_keys", "invalidate_cache"
]
_NS = "OmniHub"


@cache
def schema_text() -> str:
    """OmniHub's Cedar schema (human-readable syntax)."""
    return (POLICY_DIR / "omnihub.cedarschema").read_text(encoding="utf-8")


@cache
def _schema() -> cedarpy.Schema:
    return cedarpy.Schema.from_str(schema_text())


@cache
def default_policy_text() -> str:
    """The policy set a tenant without its own uses (``policies/default.cedar``)."""
    return (POLICY_DIR / "default.cedar").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Principal:
    """Who asks: a user or an API key of a tenant, with its role (viewer, operator, admin)."""

    id: str
    tenant: str
    role: str = "operator"
    kind: Literal["User", "ApiKey"] = "User"


@dataclass(frozen=True)
class ToolFacts:
    """What the policies know about a tool (from its :class:`omnihub.tools.ToolSpec`)."""

    name: str
    risk: str = "green"
    side_effect: bool = False
    reads_outside: bool = False


@dataclass(frozen=True)
class Decision:
    """The outcome, the ``@id`` of every policy that decided it, and the set's version."""

    outcome: Outcome
    policy_ids: tuple[str, ...]
    version: int
    reason: str
    errors: tuple[str, ...] = ()
    elapsed_ms: float = 0.0

    @property
    def allowed(self) -> bool:
        return self.outcome != "forbid"


@dataclass(frozen=True)
class PolicySet:
    """A parsed, schema-validated Cedar policy set with its version and content digest."""

    text: str
    version: int
    digest: str
    handle: cedarpy.PolicySet = field(repr=False, compare=False)
    #: Cedar's own policy id ("policy0", …) → (the ``@id`` annotation, needs approval).
    annotations: Mapping[str, tuple[str, bool]] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, version: int = 0) -> PolicySet:
        """Validate ``text`` against the schema; PolicyValidationError lists every problem."""
        try:
            result = cedarpy.validate_policies(text, _schema())
        except (ValueError, RuntimeError) as exc:
            raise PolicyValidationError([str(exc)]) from exc
        if not result.validation_passed:
            raise PolicyValidationError([str(error) for error in result.errors] or ["invalid"])
        try:
            handle = cedarpy.PolicySet.from_str(text)
            parsed = json.loads(cedarpy.policies_to_json_str(text))
        except ValueError as exc:
            raise PolicyValidationError([str(exc)]) from exc
        annotations: dict[str, tuple[str, bool]] = {}
        seen: set[str] = set()
        for cedar_id, policy in parsed.get("staticPolicies", {}).items():
            notes = policy.get("annotations", {})
            name = notes.get("id") or cedar_id
            if name in seen:
                raise PolicyValidationError([f"two policies share the @id {name!r}"])
            seen.add(name)
            needs = notes.get("approval") == "required"
            if needs and policy.get("effect") != "permit":
                raise PolicyValidationError([f"policy {name!r}: @approval goes on a permit"])
            annotations[cedar_id] = (name, needs)
        if not annotations:
            raise PolicyValidationError(["the set has no policies (it would forbid everything)"])
        digest = hashlib.sha256(text.encode()).hexdigest()
        return cls(text, version, digest, handle, annotations)

    def policy_ids(self) -> list[str]:
        return [name for name, _ in self.annotations.values()]


@cache
def default_policy_set() -> PolicySet:
    """The shipped defaults as version 0."""
    return PolicySet.parse(default_policy_text(), version=0)


def defaults_permitting(tools: Iterable[str], *, version: int = 0) -> PolicySet:
    """The defaults plus an explicit permit (``@id("operator-tools")``) for ``tools``: how an
    operator (or a test kit) lets its own side-effect tools run for a tenant."""
    names = sorted(set(tools))
    if not names:
        return default_policy_set()
    listed = ", ".join(f"{_NS}::Tool::{json.dumps(name)}" for name in names)
    permit = (
        '\n@id("operator-tools")\n'
        f'permit (principal, action == {_NS}::Action::"call", resource)\n'
        f'when {{ resource in [{listed}] && resource.risk != "red" }};\n'
    )
    return PolicySet.parse(default_policy_text() + permit, version=version)


def _uid(kind: str, id_: str) -> dict[str, str]:
    return {"type": f"{_NS}::{kind}", "id": id_}


def _tool_names_in(values: Iterable[str], known: frozenset[str], own: str) -> set[str]:
    found: set[str] = set()
    for text in values:
        for token in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
            if token in known and token != own:
                found.add(token)
    return found


def _flat_strings(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _flat_strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _flat_strings(item)]
    return [value] if isinstance(value, str) else []


def call_context(
    tool: ToolFacts,
    args: Mapping[str, Any],
    *,
    tenant: str,
    phase: Literal["plan", "step"],
    provenance: StepProvenance | None = None,
    approved: bool = False,
    known_tools: Iterable[str] = (),
    spend_cents: int = 0,
    now: float | None = None,
) -> dict[str, Any]:
    """The Cedar context of a tool call: normalised arguments, provenance, time and spend.

    At plan time a ``$ref`` argument is not a value yet; it contributes only its provenance.
    """
    amount = args.get("amount")
    cents = 0
    has_amount = isinstance(amount, int | float) and not isinstance(amount, bool)
    if isinstance(amount, int | float) and has_amount:
        cents = round(float(amount) * 100)
    recipients: set[str] = set()
    for name in ("to", "payee", "cc", "bcc"):
        value = args.get(name)
        for item in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            if isinstance(item, str) and "@" in item:
                recipients.add(item.strip().lower())
    hosts: set[str] = set()
    url = args.get("url")
    if isinstance(url, str):
        hosts.add((urlsplit(url).hostname or "").lower())
    table = args.get("table")
    record_ids = {
        str(args[name])
        for name in ("id", "payment_id", "record_id")
        if isinstance(args.get(name), str | int)
    }
    mentioned = _tool_names_in(_flat_strings(dict(args)), frozenset(known_tools), tool.name)
    hour = time.gmtime(now).tm_hour
    return {
        "tenant": tenant,
        "phase": phase,
        "approved": approved,
        "has_amount": has_amount,
        "amount_cents": cents,
        "currency": str(args.get("currency", "")).upper()
        if isinstance(args.get("currency"), str)
        else "",
        "recipients": sorted(recipients),
        "recipient_domains": sorted({r.rsplit("@", 1)[1] for r in recipients}),
        "url_hosts": sorted(hosts),
        "tables": [table] if isinstance(table, str) else [],
        "record_ids": sorted(record_ids),
        "arg_names": sorted(args),
        "arg_provenance": sorted(provenance.arg_provenance()) if provenance else [],
        "provenance": sorted(provenance.kinds()) if provenance else [],
        "untrusted_sinks": sorted(s.value for s in provenance.untrusted_sinks)
        if provenance
        else [],
        "carries_tool_output": provenance.carries_tool_output if provenance else False,
        "mentioned_tools": sorted(mentioned),
        "hour": hour,
        "spend_cents": spend_cents,
    }


class PolicyEngine:
    """Evaluates requests against one policy set; cheap to build, safe to share."""

    def __init__(self, policies: PolicySet | None = None) -> None:
        self.policies = policies or default_policy_set()

    @property
    def version(self) -> int:
        return self.policies.version

    def evaluate(
        self,
        principal: Principal,
        action: Action,
        resource: tuple[str, str],
        context: Mapping[str, Any],
        *,
        resource_attrs: Mapping[str, Any] | None = None,
        extra_entities: Iterable[dict[str, Any]] = (),
    ) -> Decision:
        """Decide one request; ``resource`` is (entity type, id), e.g. ("Tool", "send_email")."""
        started = time.perf_counter()
        tenant_uid = _uid("Tenant", principal.tenant)
        entities: list[dict[str, Any]] = [
            {"uid": tenant_uid, "attrs": {}, "parents": []},
            {
                "uid": _uid(principal.kind, principal.id),
                "attrs": {"role": principal.role},
                "parents": [tenant_uid],
            },
            *extra_entities,
        ]
        kind, rid = resource
        if kind != "Tenant":
            parents = [] if kind == "Tool" else [tenant_uid]
            entities.append(
                {"uid": _uid(kind, rid), "attrs": dict(resource_attrs or {}), "parents": parents}
            )
        request = {
            "principal": _uid(principal.kind, principal.id),
            "action": _uid("Action", action),
            "resource": _uid(kind, rid),
            "context": dict(context),
        }
        result = cedarpy.is_authorized(request, self.policies.handle, entities, _schema())
        reasons = list(result.diagnostics.reasons)
        errors = tuple(str(e) for e in result.diagnostics.errors)
        names = tuple(self.policies.annotations.get(r, (r, False))[0] for r in reasons)
        if not result.allowed:
            outcome: Outcome = "forbid"
            why = (
                f"forbidden by {', '.join(names)}"
                if names
                else "no policy permits it (fail closed)"
            )
            if errors:
                why += f"; evaluation errors: {'; '.join(errors)}"
        elif any(self.policies.annotations.get(r, ("", False))[1] for r in reasons):
            outcome, why = "approval", f"needs approval ({', '.join(names)})"
        else:
            outcome, why = "permit", f"permitted by {', '.join(names)}"
        return Decision(
            outcome=outcome,
            policy_ids=names,
            version=self.policies.version,
            reason=f"{action} {rid}: {why}",
            errors=errors,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def evaluate_call(
        self, principal: Principal, tool: ToolFacts, context: Mapping[str, Any]
    ) -> Decision:
        """Decide a tool call; ``context`` from :func:`call_context`."""
        attrs = {
            "risk": tool.risk,
            "side_effect": tool.side_effect,
            "reads_outside": tool.reads_outside,
        }
        return self.evaluate(principal, "call", ("Tool", tool.name), context, resource_attrs=attrs)
