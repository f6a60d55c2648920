"""The event the planning flow itself raises: a goal stopped by its tenant's budget."""

from __future__ import annotations

from typing import Any

# The payload lives with the other CDM payloads (so a client decodes it without importing
# planning); planning re-exports it as the event it raises.
from omnihub.events import BudgetExceeded, EventStore, NewEvent, default_registry
from omnihub.planning._flow import EventSink

__all__ = ["BudgetExceeded", "event_store_sink"]


def event_store_sink(store: EventStore) -> EventSink:
    """An :data:`EventSink` that appends the flow's events to the goal's stream (or, for a goal
    without an id, to the tenant's ``budget`` stream), once per goal and event type."""

    def append(event_type: str, payload: dict[str, Any]) -> None:
        model = default_registry.model_for(event_type)
        goal_id = payload.get("goal_id")
        stream = str(goal_id) if goal_id else "budget"
        key = f"{event_type}/{goal_id}" if goal_id else None
        event = NewEvent(
            payload=model.model_validate(payload, strict=False),
            idempotency_key=key,
        )
        store.append(str(payload["tenant"]), stream, [event])

    return append
