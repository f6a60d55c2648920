"""The OpenAPI document states the contract generated clients rely on."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from omnihub.api import create_app
from omnihub.api._models import ErrorCode
from omnihub.config import load_settings
from omnihub.events import event_models


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = load_settings(home=tmp_path_factory.mktemp("home"))
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        op["operationId"]: op
        for path in spec["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "operationId" in op
    }


def test_goal_operations_have_stable_camel_case_ids(spec: dict[str, Any]) -> None:
    assert {
        "submitGoal",
        "listGoals",
        "getGoal",
        "listGoalEvents",
        "streamGoalEvents",
        "decideStep",
        "cancelGoal",
        "pauseGoal",
        "resumeGoal",
        "getCacheStats",
        "getUsage",
    } <= set(_operations(spec))
    assert all("_" not in op_id for op_id in _operations(spec))


def test_read_responses_are_typed_models(spec: dict[str, Any]) -> None:
    ops = _operations(spec)

    def ok_schema(op_id: str) -> dict[str, Any]:
        ok = next(v for k, v in ops[op_id]["responses"].items() if k.startswith("2"))
        schema: dict[str, Any] = ok["content"]["application/json"]["schema"]
        return schema

    assert ok_schema("getGoal") == {"$ref": "#/components/schemas/GoalState"}
    assert ok_schema("decideStep") == {"$ref": "#/components/schemas/GoalState"}
    assert ok_schema("getCacheStats") == {"$ref": "#/components/schemas/CacheStats"}
    assert ok_schema("getUsage") == {"$ref": "#/components/schemas/UsageReport"}
    assert ok_schema("listGoalEvents")["items"] == {"$ref": "#/components/schemas/Event"}
    schemas = spec["components"]["schemas"]
    items = schemas["GoalPage"]["properties"]["items"]["items"]
    assert items == {"$ref": "#/components/schemas/GoalSummary"}
    status = schemas["GoalState"]["properties"]["status"]
    assert "completed" in status["enum"]
    event = schemas["Event"]
    assert event["discriminator"]["propertyName"] == "event_type"
    assert len(event["oneOf"]) == len(event_models())
    assert schemas["GoalState"]["additionalProperties"] is False


def test_optional_headers_are_plain_strings(spec: dict[str, Any]) -> None:
    headers = {
        p["name"]: p["schema"]
        for op in _operations(spec).values()
        for p in op.get("parameters", [])
        if p["in"] == "header"
    }
    assert headers["Idempotency-Key"]["type"] == "string"
    assert headers["Last-Event-ID"]["type"] == "string"
    text = json.dumps([op.get("parameters", []) for op in _operations(spec).values()])
    assert '{"type": "null"}' not in text


def test_errors_declare_codes_details_headers_and_a_default(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["ErrorDetail"]["properties"]["code"]["enum"] == list(get_args(ErrorCode))
    details = schemas["ErrorDetail"]["properties"]["details"]["anyOf"][0]
    assert details["items"] == {"$ref": "#/components/schemas/ValidationIssue"}
    for op_id, op in _operations(spec).items():
        assert "default" in op["responses"], op_id
    submit = _operations(spec)["submitGoal"]["responses"]
    assert "WWW-Authenticate" in submit["401"]["headers"]
    assert "Retry-After" in submit["429"]["headers"]
    assert "409" in _operations(spec)["cancelGoal"]["responses"]


def test_security_schemes_cover_keys_and_signing(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    names = {s["name"] for s in schemes.values() if s["type"] == "apiKey"}
    assert names == {"X-OmniHub-Timestamp", "X-OmniHub-Nonce", "X-OmniHub-Signature"}
    security = _operations(spec)["submitGoal"]["security"]
    assert {"HTTPBearer": []} in security
    assert any("Signature" in requirement for requirement in security)
    assert "security" not in _operations(spec)["healthz"]


def test_sse_endpoint_documents_its_frames(spec: dict[str, Any]) -> None:
    ok = _operations(spec)["streamGoalEvents"]["responses"]["200"]
    assert "Last-Event-ID" in ok["description"]
    assert ok["content"]["text/event-stream"]["x-sse-data"] == {
        "$ref": "#/components/schemas/Event"
    }


def test_json_value_is_a_json_value_union(spec: dict[str, Any]) -> None:
    # One level deep (Python generators cannot follow a self-referencing union), yet every
    # JSON value: null, scalars, arrays and objects.
    union = spec["components"]["schemas"]["JsonValue"]["anyOf"]
    assert {"type": "null"} in union
    assert {"type": "array", "items": {}} in union
    assert {"type": "object", "additionalProperties": True} in union
    state = spec["components"]["schemas"]["GoalState"]["properties"]["result"]
    assert state["$ref"] == "#/components/schemas/JsonValue"
