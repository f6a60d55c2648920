"""JSON Schema of the whole CDM, for TypeScript and other clients to generate types from."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from omnihub.events._envelope import EventEnvelope
from omnihub.events._registry import EventRegistry, default_registry

__all__ = ["cdm_json_schema", "cdm_schema_text"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def cdm_json_schema(registry: EventRegistry | None = None) -> dict[str, Any]:
    """One schema document: every payload version, and an envelope per current event type.

    The document validates one stored event (as read: the current schema version); its
    ``oneOf`` is discriminated by ``event_type``. Historic payload versions are under
    ``$defs`` as ``<Type>V<n>`` for readers of old exports.
    """
    registry = registry or default_registry
    models = registry.models()
    names: dict[tuple[str, int], str] = {}
    for event_type, version, _ in models:
        current = registry.current_version(event_type)
        names[(event_type, version)] = (
            event_type if version == current else (f"{event_type}V{version}")
        )
    _, top = models_json_schema(
        [(model, "validation") for _, _, model in models] + [(EventEnvelope, "validation")],
        ref_template="#/$defs/{model}",
    )
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    # Rename each payload's definition to its event type (and version, for old ones).
    renamed: dict[str, Any] = {}
    for (event_type, version), name in names.items():
        model = registry.model_for(event_type, version)
        schema = defs.pop(model.__name__)
        schema["title"] = name
        schema["x-event-type"] = event_type
        schema["x-schema-version"] = version
        renamed[name] = schema
    envelope = defs.pop("EventEnvelope")
    envelope["properties"]["payload"] = {"type": "object"}
    envelope["description"] = (EventEnvelope.__doc__ or "").strip().splitlines()[0]
    variants = []
    for event_type in registry.event_types():
        variants.append(
            {
                "title": f"{event_type}Event",
                "allOf": [
                    {"$ref": "#/$defs/EventEnvelope"},
                    {
                        "properties": {
                            "event_type": {"const": event_type},
                            "schema_version": {"const": registry.current_version(event_type)},
                            "payload": {"$ref": f"#/$defs/{event_type}"},
                        }
                    },
                ],
            }
        )
    all_defs = {**defs, **renamed, "EventEnvelope": envelope}
    return {
        "$schema": _DIALECT,
        "$id": "https://omnihub.dev/schemas/cdm.schema.json",
        "title": "OmniHub canonical data model (CDM) event",
        "oneOf": variants,
        "$defs": dict(sorted(all_defs.items())),
    }


def cdm_schema_text(registry: EventRegistry | None = None) -> str:
    """The schema as the stable text committed under ``schemas/`` (sorted keys, indented)."""
    return json.dumps(cdm_json_schema(registry), indent=2, sort_keys=True) + "\n"
