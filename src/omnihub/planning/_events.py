"""The event the planning flow itself raises: a goal stopped by its tenant's budget."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from omnihub.events import EventPayload, EventStore, NewEvent, default_registry, register_event
from omnihub.planning._flow import EventSink


@register_event("BudgetExceeded")
class BudgetExceeded(EventPayload):
    """A goal was rejected or held for approval because its tenant is over today's budget."""

    tenant: str = Field(min_length=1)
    action: Literal["reject", "hold"]
    reason: str
    period: Literal["day"] = "day"
    period_start: str = Field(description="ISO 8601 start (UTC) of the budget period.")
    spent_tokens: int = Field(ge=0)
    spent_cost: float = Field(ge=0)
    limit_tokens: int | None = None
    limit_cost: float | None = None
    goal_id: str | None = None


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
