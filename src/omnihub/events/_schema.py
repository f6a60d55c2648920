"""Typed event models and the JSON Schema of the whole CDM, for clients to generate types from.

An :class:`~omnihub.events.EventEnvelope` carries any payload; clients need one model per event
type whose ``payload`` is that type's model. They are built here from the registry (event types
are registered by several packages, so they cannot be written out once by hand), and the CDM
schema and the API's OpenAPI document are both generated from them.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.json_schema import models_json_schema

from omnihub.events._envelope import EventEnvelope
from omnihub.events._registry import EventPayload, EventRegistry, default_registry

__all__ = [
    "JSON_VALUE_SCHEMA",
    "AuditExportLine",
    "audit_event_models",
    "cdm_json_schema",
    "cdm_schema_text",
    "event_adapter",
    "event_list_adapter",
    "event_models",
    "tighten_schema",
]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# What pydantic writes for ``JsonValue`` is ``{}`` (anything), which generators read as "an
# object"; this is the JSON value it means, so ``output: [1, 2]`` and ``result: null`` type-check.
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": "Any JSON value.",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string"},
        {"type": "array", "items": {"$ref": "#/$defs/JsonValue"}},
        {"type": "object", "additionalProperties": {"$ref": "#/$defs/JsonValue"}},
    ],
}

_lock = threading.Lock()
_cache: dict[tuple[int, str, tuple[tuple[str, int], ...]], list[type[BaseModel]]] = {}


class _AuditEvent(BaseModel):
    """An event as the audit export hashes it: as stored (its payload at the version it was
    written with), without the store's position and chain hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    causation_id: str | None
    correlation_id: str | None
    event_id: str
    event_type: str
    idempotency_key: str | None
    occurred_at: str
    payload: EventPayload
    recorded_at: str
    schema_version: int = Field(ge=1)
    stream_id: str
    stream_version: int = Field(ge=1)
    tenant_id: str


class AuditExportLine(BaseModel):
    """One line of ``omnihub audit export --format jsonl``: ``sha256(prev_hash || event)`` is
    ``hash``, recomputable from the line alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: dict[str, Any]
    global_position: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


def _name(registry: EventRegistry, event_type: str, version: int) -> str:
    current = registry.current_version(event_type)
    return event_type if version == current else f"{event_type}V{version}"


def _build(
    registry: EventRegistry, kind: str, base: type[BaseModel], suffix: str, historic: bool
) -> list[type[BaseModel]]:
    registered = registry.models()
    key = (id(registry), kind, tuple((t, v) for t, v, _ in registered))
    with _lock:
        if key not in _cache:
            built: list[type[BaseModel]] = []
            for event_type, version, payload in registered:
                name = _name(registry, event_type, version)
                # Literal of a runtime value: a dynamic type form, which mypy cannot follow.
                tag: Any = Literal[event_type]
                version_tag: Any = Literal[version]
                built.append(
                    create_model(
                        f"{name}{suffix}",
                        __base__=base,
                        __module__=__name__,
                        __doc__=f"A {event_type} event (payload schema version {version}).",
                        event_type=(tag, ...),
                        schema_version=(version_tag, ...),
                        payload=(payload, ...),
                    )
                )
            _cache[key] = built
    models = _cache[key]
    if historic:
        return list(models)
    return [
        m
        for m, (t, v, _) in zip(models, registered, strict=True)
        if v == registry.current_version(t)
    ]


def event_models(
    registry: EventRegistry | None = None, *, historic: bool = False
) -> list[type[EventEnvelope]]:
    """One :class:`EventEnvelope` subclass per event type (``<Type>Event``) whose ``payload``
    is that type's model; with ``historic``, also ``<Type>V<n>Event`` for old versions."""
    built = _build(registry or default_registry, "envelope", EventEnvelope, "Event", historic)
    return [m for m in built if issubclass(m, EventEnvelope)]


def audit_event_models(registry: EventRegistry | None = None) -> list[type[BaseModel]]:
    """The ``event`` of an audit-export line, per event type and every payload version."""
    return _build(registry or default_registry, "audit", _AuditEvent, "AuditEvent", True)


def event_adapter(registry: EventRegistry | None = None) -> TypeAdapter[EventEnvelope]:
    """Validates a stored event as read (current payload versions) into its typed model,
    discriminated by ``event_type``: what ``/v1/goals/{id}/events`` lists and the SSE stream
    sends. Validate JSON text (the models are strict: datetimes come as ISO strings)."""
    adapter: TypeAdapter[EventEnvelope] = _adapter(registry or default_registry, many=False)
    return adapter


def event_list_adapter(registry: EventRegistry | None = None) -> TypeAdapter[list[EventEnvelope]]:
    """:func:`event_adapter` for a JSON array of events."""
    adapter: TypeAdapter[list[EventEnvelope]] = _adapter(registry or default_registry, many=True)
    return adapter


_adapters: dict[tuple[int, bool, tuple[tuple[str, int], ...]], TypeAdapter[Any]] = {}


def _adapter(registry: EventRegistry, *, many: bool) -> TypeAdapter[Any]:
    key = (id(registry), many, tuple((t, v) for t, v, _ in registry.models()))
    with _lock:
        found = _adapters.get(key)
    if found is None:
        models = tuple(event_models(registry))
        union: Any = Annotated[Union[models], Field(discriminator="event_type")]  # noqa: UP007
        found = TypeAdapter(list[union] if many else union)
        with _lock:
            _adapters[key] = found
    return found


def tighten_schema(node: Any, *, in_properties: bool = False) -> Any:
    """A generated schema without ``title`` on properties, recursively: generators turn each
    into a type alias of its own (``StepId1``…``StepId9``)."""
    if isinstance(node, list):
        return [tighten_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and in_properties and isinstance(value, str):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: tighten_schema(sub, in_properties=True) for name, sub in value.items()
            }
        else:
            out[key] = tighten_schema(value)
    return out


def cdm_json_schema(registry: EventRegistry | None = None) -> dict[str, Any]:
    """One schema document validating one stored event as read.

    Its ``oneOf`` lists ``<Type>Event`` for every current event type and ``<Type>V<n>Event``
    for historic payload versions (an event read from an old export), told apart by
    ``event_type`` and ``schema_version``. Payloads are under ``$defs`` by event type
    (``<Type>V<n>`` for old versions); ``AuditExportLine`` is one line of the audit export.
    Objects whose models forbid extra fields say ``additionalProperties: false``.
    """
    registry = registry or default_registry
    envelopes = event_models(registry, historic=True)
    audits = audit_event_models(registry)
    inputs: list[type[BaseModel]] = [*envelopes, *audits, AuditExportLine]
    _, top = models_json_schema(
        [(m, "validation") for m in inputs],
        ref_template="#/$defs/{model}",
    )
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    # Payload definitions are named after their event type (and version, for old ones).
    for event_type, version, model in registry.models():
        name = _name(registry, event_type, version)
        schema = defs.pop(model.__name__)
        schema["title"] = name
        schema["x-event-type"] = event_type
        schema["x-schema-version"] = version
        defs[name] = schema
    line = defs["AuditExportLine"]
    line["properties"]["event"] = {"oneOf": [{"$ref": f"#/$defs/{m.__name__}"} for m in audits]}
    defs["JsonValue"] = JSON_VALUE_SCHEMA
    defs = tighten_schema(defs)
    return {
        "$schema": _DIALECT,
        "$id": "https://omnihub.dev/schemas/cdm.schema.json",
        "title": "OmniHub canonical data model (CDM) event",
        "oneOf": [{"$ref": f"#/$defs/{m.__name__}"} for m in envelopes],
        "$defs": dict(sorted(defs.items())),
    }


def cdm_schema_text(registry: EventRegistry | None = None) -> str:
    """The schema as the stable text committed under ``schemas/`` (sorted keys, indented)."""
    return json.dumps(cdm_json_schema(registry), indent=2, sort_keys=True) + "\n"
