"""The open registry of event payload models and the upcasters between their schema versions.

Every payload model is registered under ``(event_type, schema_version)``. The highest version
registered for a type is its *current* version; events stored under an older version are
upgraded on read by a chain of upcasters, one per ``(event_type, from_version)``. Later
components register their own event types without touching the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict

from omnihub.errors import SchemaVersionError, UnknownEventTypeError, ValidationError

__all__ = [
    "EventPayload",
    "EventRegistry",
    "Upcaster",
    "default_registry",
    "register_event",
    "register_upcaster",
]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a payload dict of version ``v`` into one of version ``v + 1``."""

P = TypeVar("P", bound="EventPayload")


class EventPayload(BaseModel):
    """Base of every event payload: frozen, strict, no unknown fields.

    ``event_type`` and ``schema_version`` are set on the class by :func:`register_event`.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 0


class EventRegistry:
    """Maps ``(event_type, schema_version)`` to payload models, and holds the upcasters."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, int], type[EventPayload]] = {}
        self._keys: dict[type[EventPayload], tuple[str, int]] = {}
        self._current: dict[str, int] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        # (event_type, current version) -> the model's JSON validator: one dict lookup on
        # the hot path of every read instead of four (filled on first use).
        self._validators: dict[tuple[str, int], Callable[[str | bytes], Any]] = {}

    def register(self, model: type[EventPayload], event_type: str, version: int) -> None:
        """Register ``model`` as the payload of ``event_type`` at ``version``."""
        if not event_type or not event_type.isidentifier():
            raise ValidationError(f"event type {event_type!r} must be a non-empty identifier")
        if version < 1:
            raise ValidationError(f"schema version of {event_type!r} must be >= 1")
        key = (event_type, version)
        existing = self._models.get(key)
        if existing is not None and existing is not model:
            raise ValidationError(
                f"{event_type!r} version {version} is already registered to {existing.__name__}"
            )
        self._models[key] = model
        self._keys[model] = key
        self._current[event_type] = max(version, self._current.get(event_type, 0))
        self._validators.clear()

    def register_upcaster(self, event_type: str, from_version: int, upcaster: Upcaster) -> None:
        """Register the function that upgrades ``event_type`` payloads from ``from_version``."""
        self._upcasters[(event_type, from_version)] = upcaster

    def key_of(self, payload: EventPayload) -> tuple[str, int]:
        """The ``(event_type, schema_version)`` a payload instance is stored under."""
        key = self._keys.get(type(payload))
        if key is None:
            raise UnknownEventTypeError(type(payload).__name__)
        return key

    def current_version(self, event_type: str) -> int:
        try:
            return self._current[event_type]
        except KeyError:
            raise UnknownEventTypeError(event_type) from None

    def model_for(self, event_type: str, version: int | None = None) -> type[EventPayload]:
        """The model registered for ``event_type`` at ``version`` (default: current)."""
        current = self.current_version(event_type)
        model = self._models.get((event_type, current if version is None else version))
        if model is None:
            raise SchemaVersionError(event_type, version or 0, current)
        return model

    def event_types(self) -> list[str]:
        return sorted(self._current)

    def models(self) -> list[tuple[str, int, type[EventPayload]]]:
        """Every registered ``(event_type, version, model)``, sorted."""
        return [(t, v, m) for (t, v), m in sorted(self._models.items(), key=lambda kv: kv[0])]

    def decode(
        self, event_type: str, version: int, payload_json: str | bytes
    ) -> tuple[EventPayload, int]:
        """Parse a stored payload into the current model; return it and its (new) version.

        Raises UnknownEventTypeError, SchemaVersionError (no upcaster path, or a version newer
        than this code knows) or ValidationError (malformed JSON, a payload the model rejects).
        """
        validate = self._validators.get((event_type, version))
        if validate is not None:
            try:  # the hot path of every read: straight to pydantic-core
                return validate(payload_json), version
            except pydantic.ValidationError:
                pass  # the typed error below
        current = self._current.get(event_type)
        if current is None:
            raise UnknownEventTypeError(event_type)
        if version == current:
            model = self._models[(event_type, current)]
            self._validators[(event_type, current)] = model.__pydantic_validator__.validate_json
            return self._validate(model, event_type, payload_json), current
        if version < 1 or version > current:
            raise SchemaVersionError(event_type, version, current)
        try:
            data = json.loads(payload_json)
        except ValueError as exc:
            raise ValidationError(f"{event_type} payload is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValidationError(f"{event_type} payload must be a JSON object")
        for step in range(version, current):
            upcaster = self._upcasters.get((event_type, step))
            if upcaster is None:
                raise SchemaVersionError(event_type, version, current)
            data = upcaster(data)
        model = self.model_for(event_type)
        return self._validate(model, event_type, json.dumps(data)), current

    @staticmethod
    def _validate(
        model: type[EventPayload], event_type: str, payload_json: str | bytes
    ) -> EventPayload:
        try:
            return model.model_validate_json(payload_json)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            if first["type"] == "json_invalid":
                raise ValidationError(
                    f"{event_type} payload is not valid JSON: {first['msg']}"
                ) from exc
            raise ValidationError(
                f"{event_type} payload is invalid at {where}: {first['msg']}"
            ) from exc


default_registry = EventRegistry()
"""The process-wide registry the built-in events and ``register_event`` use by default."""


def register_event(
    event_type: str, version: int = 1, *, registry: EventRegistry | None = None
) -> Callable[[type[P]], type[P]]:
    """Class decorator: register a payload model under ``(event_type, version)``.

    >>> @register_event("InvoiceSent")
    ... class InvoiceSent(EventPayload):
    ...     invoice_id: str
    """

    def decorate(model: type[P]) -> type[P]:
        model.event_type = event_type
        model.schema_version = version
        (registry or default_registry).register(model, event_type, version)
        return model

    return decorate


def register_upcaster(
    event_type: str, from_version: int, *, registry: EventRegistry | None = None
) -> Callable[[Upcaster], Upcaster]:
    """Decorator: register a function upgrading ``event_type`` payloads from ``from_version``."""

    def decorate(upcaster: Upcaster) -> Upcaster:
        (registry or default_registry).register_upcaster(event_type, from_version, upcaster)
        return upcaster

    return decorate
