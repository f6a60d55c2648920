"""Per-tenant policy sets stored with the events: a hash-chained ``policy-set`` stream.

Applying a set validates it against the schema first, then appends ``PolicySetApplied`` with
the next version (optimistic concurrency: two operators applying at once cannot both win).
Readers check the stream's version on every lookup, so a change takes effect on the next
evaluation in every process, without a restart.
"""

from __future__ import annotations

import threading

from omnihub.errors import IntegrityError
from omnihub.events import EventStore, NewEvent, PolicySetApplied
from omnihub.guard._engine import PolicyEngine, PolicySet, default_policy_set

POLICY_STREAM = "policy-set"


class PolicyStore:
    """The current and past policy sets of each tenant (the defaults until one is applied)."""

    def __init__(self, events: EventStore) -> None:
        self.events = events
        self._lock = threading.Lock()
        self._current: dict[str, PolicySet] = {}

    def current(self, tenant_id: str) -> PolicySet:
        """The tenant's newest set; version 0 (the shipped defaults) when none was applied."""
        version = self.events.stream_version(tenant_id, POLICY_STREAM)
        if version == 0:
            return default_policy_set()
        with self._lock:
            cached = self._current.get(tenant_id)
        if cached is not None and cached.version == version:
            return cached
        last = self.events.read_stream(tenant_id, POLICY_STREAM, from_version=version)[-1]
        payload = last.payload
        if not isinstance(payload, PolicySetApplied):
            raise IntegrityError(f"the {POLICY_STREAM} stream holds a {last.event_type} event")
        policies = PolicySet.parse(payload.policies, version=payload.version)
        with self._lock:
            self._current[tenant_id] = policies
        return policies

    def engine(self, tenant_id: str) -> PolicyEngine:
        return PolicyEngine(self.current(tenant_id))

    def apply(
        self, tenant_id: str, text: str, *, applied_by: str, reason: str | None = None
    ) -> PolicySet:
        """Validate ``text`` and store it as the tenant's next version; return the new set.

        Raises PolicyValidationError (nothing stored) or ConcurrencyError when another apply
        won the race.
        """
        version = self.events.stream_version(tenant_id, POLICY_STREAM)
        policies = PolicySet.parse(text, version=version + 1)
        event = PolicySetApplied(
            version=policies.version,
            digest=policies.digest,
            policies=text,
            policy_ids=policies.policy_ids(),
            applied_by=applied_by,
            reason=reason,
        )
        self.events.append(
            tenant_id,
            POLICY_STREAM,
            [NewEvent(payload=event, idempotency_key=f"policy-set/{policies.version}")],
            expected_version=version,
        )
        with self._lock:
            self._current[tenant_id] = policies
        return policies

    def history(self, tenant_id: str) -> list[PolicySetApplied]:
        """Every applied set of the tenant, oldest first."""
        return [
            e.payload
            for e in self.events.read_stream(tenant_id, POLICY_STREAM)
            if isinstance(e.payload, PolicySetApplied)
        ]
