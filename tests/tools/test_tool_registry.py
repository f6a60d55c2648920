from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

import omnihub.tools
from omnihub.errors import ConfigurationError, ToolError, ToolNotFoundError
from omnihub.tools import (
    Compensation,
    RetrySpec,
    RiskLane,
    ToolContext,
    ToolRegistry,
    default_registry,
    idempotency_key,
    tool,
)


class In(BaseModel):
    n: int


class Out(BaseModel):
    doubled: int


def test_public_names_are_sorted_and_pinned() -> None:
    assert omnihub.tools.__all__ == sorted(omnihub.tools.__all__)
    for name in ("tool", "ToolSpec", "ToolRegistry", "default_registry", "IdempotencyLedger"):
        assert name in omnihub.tools.__all__


def test_the_decorator_reads_models_and_docstring() -> None:
    @tool(risk="red", requires_approval=True, retry=RetrySpec(max_attempts=2))
    async def double(args: In, ctx: ToolContext) -> Out:
        """Double a number.

        More text that the catalog leaves out."""
        return Out(doubled=args.n * 2)

    assert double.name == "double"
    assert double.description == "Double a number."
    assert double.input_model is In
    assert double.output_model is Out
    assert double.risk is RiskLane.RED
    entry = double.catalog_entry()
    assert entry["requires_approval"] is True
    assert entry["input_schema"]["properties"]["n"]["type"] == "integer"
    assert entry["compensation"] is None


def test_the_registry_registers_finds_and_lists() -> None:
    registry = ToolRegistry()

    @registry.tool(name="triple", description="x3", side_effect=True)
    async def _triple(args: In, ctx: ToolContext) -> Out:
        return Out(doubled=args.n * 3)

    assert "triple" in registry
    assert registry.get("triple").side_effect
    assert len(registry) == 1
    assert registry.names() == ["triple"]
    with pytest.raises(ConfigurationError, match="registered already"):
        registry.register(registry.get("triple"))
    with pytest.raises(ToolNotFoundError, match="no tool named 'nope'"):
        registry.get("nope")


def test_the_default_catalog_is_json_ready_and_complete() -> None:
    catalog = default_registry().catalog()
    names = [entry["name"] for entry in catalog]
    assert names == [
        "database_delete",
        "database_query",
        "database_write",
        "http_request",
        "respond_to_user",
        "send_email",
    ]
    write = catalog[names.index("database_write")]
    assert write["compensation"] == {
        "tool": "database_delete",
        "args": {"table": "input.table", "id": "output.record_id"},
    }
    assert write["side_effect"] is True
    assert write["risk"] == "yellow"
    assert set(write) == {
        "name",
        "description",
        "input_schema",
        "output_schema",
        "side_effect",
        "risk",
        "requires_approval",
        "compensation",
    }
    json.dumps(catalog)


def test_tools_must_be_async_and_annotated() -> None:
    def sync(args: In, ctx: ToolContext) -> Out:
        return Out(doubled=0)

    async def untyped(args, ctx):  # type: ignore[no-untyped-def]
        return None

    async def no_args() -> Out:
        return Out(doubled=0)

    with pytest.raises(ConfigurationError, match="async"):
        tool()(sync)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Pydantic model"):
        tool()(untyped)
    with pytest.raises(ConfigurationError, match="input model first"):
        tool()(no_args)  # type: ignore[arg-type]


def test_compensation_paths_are_checked_and_resolved() -> None:
    with pytest.raises(ConfigurationError, match="must start with"):
        Compensation("undo", {"id": "record_id"})
    undo = Compensation("undo", {"id": "output.record.id", "table": "input.table"})
    assert undo.resolve({"table": "t"}, {"record": {"id": "r1"}}) == {"id": "r1", "table": "t"}
    with pytest.raises(ToolError, match="missing from the step") as caught:
        undo.resolve({"table": "t"}, {})
    assert caught.value.non_retryable


def test_retry_backoff_grows_to_its_ceiling() -> None:
    retry = RetrySpec(initial_interval_s=1, backoff=2, max_interval_s=5)
    assert [retry.delay_s(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_idempotency_keys_depend_on_goal_and_step_only() -> None:
    assert idempotency_key("t", "g", "s") == "t/g/s/do"
    assert idempotency_key("t", "g", "s", "undo") == "t/g/s/undo"
