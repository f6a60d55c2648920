"""What callers append (:class:`NewEvent`) and what the store returns (:class:`EventEnvelope`)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SerializeAsAny, field_validator

from omnihub.events._ids import validate_event_id
from omnihub.events._registry import EventPayload

__all__ = ["EventEnvelope", "NewEvent"]


class NewEvent(BaseModel):
    """An event to append: a registered payload plus optional ids and time.

    ``event_id`` may be given (a UUIDv7, e.g. from
    :func:`~omnihub.events.deterministic_event_id`) so a retried writer appends the same id;
    otherwise the store generates one. ``idempotency_key``: an event whose key already exists
    in its stream is not stored again. ``correlation_id`` defaults to the stream id;
    ``occurred_at`` to the time of the append.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    payload: SerializeAsAny[EventPayload]
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    event_id: str | None = None
    correlation_id: str | None = Field(None, min_length=1, max_length=200)
    causation_id: str | None = Field(None, min_length=1, max_length=200)
    occurred_at: AwareDatetime | None = None

    @field_validator("event_id")
    @classmethod
    def _check_event_id(cls, value: str | None) -> str | None:
        return None if value is None else validate_event_id(value)


class EventEnvelope(BaseModel):
    """A stored event: identity, position, provenance, the typed payload and its chain hashes.

    ``schema_version`` is the version of ``payload`` as returned (after upcasting); ``hash``
    covers the event as it was stored (see :mod:`omnihub.events._canonical`).
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    event_id: str
    stream_id: str
    stream_version: int = Field(ge=1)
    global_position: int = Field(ge=1)
    tenant_id: str
    correlation_id: str | None
    causation_id: str | None
    event_type: str
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    idempotency_key: str | None
    payload: SerializeAsAny[EventPayload]
    prev_hash: str
    hash: str
