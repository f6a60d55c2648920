"""The OpenAPI document, finished for code generators: typed events, security schemes for
API keys and request signing, plain-string optional parameters and stable operation ids."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from omnihub.auth import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from omnihub.events import JSON_VALUE_SCHEMA, event_adapter, tighten_schema

_SCHEMAS = "#/components/schemas/"
_BEARER = "HTTPBearer"  # the scheme name FastAPI gives the HTTPBearer of ``_deps.py``
_SIGNING = {
    "SignatureTimestamp": (TIMESTAMP_HEADER, "Unix seconds when the request was signed."),
    "SignatureNonce": (NONCE_HEADER, "A fresh random value (16-128 of [A-Za-z0-9_-])."),
    "Signature": (
        SIGNATURE_HEADER,
        "`v1=<hex HMAC-SHA256>` of the canonical request (see omnihub.auth.sign_request); "
        "required for keys created with --require-signature.",
    ),
}


# Any JSON value, one level deep: Python generators cannot follow a union that refers to itself
# (the CDM schema, read by json2ts, has the recursive one).
_JSON_VALUE: dict[str, Any] = {
    **JSON_VALUE_SCHEMA,
    "anyOf": [
        *JSON_VALUE_SCHEMA["anyOf"][:4],  # null, boolean, number, string
        {"type": "array", "items": {}},
        {"type": "object", "additionalProperties": True},
    ],
}


def operation_id_of(route: APIRoute) -> str:
    """A route's operation id when it names none: its function name in camelCase
    (``list_keys`` → ``listKeys``), stable across path and method changes."""
    head, *rest = route.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _plain_optional(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf [X, null]`` of an optional parameter or body as just X: what is absent is
    omitted, never sent as null, and generated clients crash on the null branch."""
    options = schema.get("anyOf")
    if not isinstance(options, list) or len(options) != 2:
        return schema
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) != 1:
        return schema
    return {**{k: v for k, v in schema.items() if k != "anyOf"}, **rest[0]}


def _add_events(schemas: dict[str, Any]) -> None:
    events = event_adapter().json_schema(ref_template=_SCHEMAS + "{model}", mode="serialization")
    for name, definition in events.pop("$defs", {}).items():
        if name in schemas and schemas[name] != definition:
            # Two different shapes under one name would make generated clients lie.
            raise RuntimeError(f"OpenAPI component {name!r} would have two shapes")
        schemas[name] = definition
    events["description"] = "A stored event, discriminated by `event_type`."
    schemas["Event"] = events


def _shape(schema: Any) -> Any:
    """A schema without annotations that do not change what it accepts (title, default)."""
    if isinstance(schema, list):
        return [_shape(item) for item in schema]
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in ("title", "default")}
    return schema


def _merge_output_twins(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI names a model ``X-Output`` when another model is also called ``X``; where the
    events already define that very ``X``, refer to it once under its own name."""
    schemas = schema["components"]["schemas"]
    twins = [
        name
        for name in schemas
        if name.endswith("-Output")
        and _shape(schemas.get(name.removesuffix("-Output"))) == _shape(schemas[name])
    ]
    for name in twins:
        del schemas[name]
    renames = {name: name.removesuffix("-Output") for name in twins}
    # What is left is one class name with two shapes (a model whose input and output schemas
    # differ): generators drop the suffix and collide, so it joins.
    for name in list(schemas):
        base, dash, side = name.rpartition("-")
        if dash and side in ("Input", "Output"):
            renames[name] = base + side
            # Generators name models by title: the title must change with the name.
            schemas[base + side] = {**schemas.pop(name), "title": base + side}
    text = json.dumps(schema)
    for old, new in renames.items():
        text = text.replace(f'"{_SCHEMAS}{old}"', f'"{_SCHEMAS}{new}"')
    merged: dict[str, Any] = json.loads(text)
    return merged


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (built once, then cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _add_events(schemas)
    schemas["JsonValue"] = _JSON_VALUE
    components["schemas"] = tighten_schema(schemas)
    schema = _merge_output_twins(schema)
    components = schema["components"]
    security = components.setdefault("securitySchemes", {})
    for name, (header, description) in _SIGNING.items():
        security[name] = {
            "type": "apiKey",
            "in": "header",
            "name": header,
            "description": description,
        }
    signed: dict[str, list[str]] = {_BEARER: [], **{name: [] for name in _SIGNING}}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if not parameter.get("required") and "schema" in parameter:
                    parameter["schema"] = _plain_optional(parameter["schema"])
            body = operation.get("requestBody", {})
            if body and not body.get("required"):
                # An optional body (cancel's reason) is left out, not sent as JSON null.
                for media in body.get("content", {}).values():
                    media["schema"] = _plain_optional(media["schema"])
            if {_BEARER: []} in operation.get("security", []):
                # A key alone, or a key and a signature (required for some keys).
                operation["security"] = [{_BEARER: []}, signed]
            responses = operation.setdefault("responses", {})
            if "default" not in responses:
                responses["default"] = {
                    "description": "An unexpected error.",
                    "content": {"application/json": {"schema": {"$ref": _SCHEMAS + "ErrorBody"}}},
                }
    app.openapi_schema = schema
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`build_openapi`'s document at ``/openapi.json``."""

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
