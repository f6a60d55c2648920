"""Build the event store a URL names: ``sqlite:///PATH`` or ``postgresql://…``."""

from __future__ import annotations

from omnihub.config import parse_backend_url
from omnihub.errors import ConfigurationError
from omnihub.events._registry import EventRegistry
from omnihub.events._store import DEFAULT_MAX_PAYLOAD_BYTES, EventStore

__all__ = ["open_event_store"]


def open_event_store(
    url: str,
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    registry: EventRegistry | None = None,
) -> EventStore:
    """Open (and create if needed) the event store at ``url``.

    ``sqlite:///PATH`` is the embedded default (one file, WAL); ``postgresql://…`` (or
    ``postgres://…``) is the scale-out backend and needs the ``postgres`` extra.
    """
    backend = parse_backend_url(url, allowed=("sqlite", "postgresql"), purpose="event store URL")
    if backend.kind == "sqlite":
        from omnihub.events._sqlite import SQLiteEventStore

        return SQLiteEventStore(url, max_payload_bytes=max_payload_bytes, registry=registry)
    try:
        from omnihub.events._postgres import PostgresEventStore
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            "the PostgreSQL event store needs the 'postgres' extra (psycopg)"
        ) from exc
    return PostgresEventStore(url, max_payload_bytes=max_payload_bytes, registry=registry)
