"""How the workflow records events: typed CDM payloads, appended by a local activity.

The workflow never touches the store: it builds each event from its payload model in
:mod:`omnihub.events` (so a wrong field fails here, by name) and hands the batch to the
``record_events`` activity, which appends each event at most once under its key.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from omnihub.events import EventPayload
    from omnihub.saga._models import EventSpec, RecordEventsInput
    from omnihub.saga._policy import LOCAL_TIMEOUT, RECORD_RETRY


def event_spec(payload: EventPayload, *, key: Sequence[str]) -> EventSpec:
    """The event carrying ``payload``, identified within its goal by ``key``.

    ``key`` feeds the event's deterministic id and idempotency key, so it must stay the same
    for the same event across retries, replays and releases.
    """
    return EventSpec.of(payload, list(key))


def step_event(payload: EventPayload, *, step_id: str) -> EventSpec:
    """An event about one step, keyed by the step and the event type (once per step)."""
    return event_spec(payload, key=(step_id, payload.event_type))


def goal_event(payload: EventPayload) -> EventSpec:
    """An event about the whole goal, keyed by its type (once per goal)."""
    return event_spec(payload, key=(payload.event_type,))


class EventRecorder:
    """Appends a goal's events through the ``record_events`` local activity."""

    def __init__(self, *, tenant_id: str, goal_id: str) -> None:
        self.tenant_id = tenant_id
        self.goal_id = goal_id

    async def record(self, *events: EventSpec, retry: RetryPolicy = RECORD_RETRY) -> None:
        await workflow.execute_local_activity(
            "record_events",
            RecordEventsInput(
                tenant_id=self.tenant_id,
                goal_id=self.goal_id,
                at=workflow.now(),
                events=list(events),
            ),
            start_to_close_timeout=LOCAL_TIMEOUT,
            retry_policy=retry,
        )
