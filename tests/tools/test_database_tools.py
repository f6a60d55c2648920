from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from omnihub.errors import ConfigurationError, StoreError, ToolError
from omnihub.tools import (
    IdempotencyLedger,
    SqlCursor,
    ToolContext,
    ToolResources,
    default_registry,
    execute_tool,
    open_database,
)

REGISTRY = default_registry()
Ctx = Callable[..., ToolContext]


def _rows(resources: ToolResources) -> list[dict[str, object]]:
    with resources.database.transaction() as cursor:
        cursor.execute("SELECT id, sku, qty FROM orders ORDER BY id")
        return cursor.fetchall()


async def test_write_query_delete_round_trip(resources: ToolResources, context: Ctx) -> None:
    write = REGISTRY.get("database_write")
    out = await execute_tool(
        write, {"table": "orders", "values": {"sku": "A-1", "qty": 2}}, context(resources)
    )
    assert out["table"] == "orders"
    rows = await execute_tool(
        REGISTRY.get("database_query"),
        {"table": "orders", "where": {"sku": "A-1"}},
        context(resources, "s2"),
    )
    assert rows == {"rows": [{"id": out["record_id"], "sku": "A-1", "qty": 2}]}
    undo = write.compensation
    assert undo is not None
    undo_args = undo.resolve({"table": "orders"}, out)
    deleted = await execute_tool(REGISTRY.get(undo.tool), undo_args, context(resources, "s3"))
    assert deleted == {"deleted": 1}
    assert _rows(resources) == []


async def test_a_repeated_write_acts_once(resources: ToolResources, context: Ctx) -> None:
    write = REGISTRY.get("database_write")
    args = {"table": "orders", "values": {"sku": "B", "qty": 1}}
    outs = [await execute_tool(write, args, context(resources)) for _ in range(3)]
    assert outs[0] == outs[1] == outs[2]
    assert len(_rows(resources)) == 1
    assert resources.ledger.count("t1/g1/") == 1


async def test_concurrent_attempts_of_one_write_act_once(
    resources: ToolResources, context: Ctx
) -> None:
    write = REGISTRY.get("database_write")
    args = {"table": "orders", "values": {"sku": "C", "qty": 1}}
    # Call the tool itself (not the executor) so every attempt reaches the transaction.
    parsed = write.input_model.model_validate(args)
    outs = await asyncio.gather(*(write.func(parsed, context(resources)) for _ in range(6)))
    assert len({o.model_dump_json() for o in outs}) == 1
    assert len(_rows(resources)) == 1


async def test_a_repeated_delete_reports_its_first_result(
    resources: ToolResources, context: Ctx
) -> None:
    delete = REGISTRY.get("database_delete")
    with resources.database.transaction() as cursor:
        cursor.execute(
            "INSERT INTO orders (id, tenant_id, sku, qty) VALUES (?, ?, ?, ?)", ("r1", "t1", "x", 1)
        )
    first = await execute_tool(delete, {"table": "orders", "id": "r1"}, context(resources))
    again = await delete.func(
        delete.input_model.model_validate({"table": "orders", "id": "r1"}), context(resources)
    )
    assert first == again.model_dump() == {"deleted": 1}


async def test_tables_outside_the_allow_list_are_refused(
    sqlite_resources: ToolResources, context: Ctx
) -> None:
    for tool_name, args in (
        ("database_write", {"table": "users", "values": {"a": 1}}),
        ("database_query", {"table": "users"}),
        ("database_delete", {"table": "users", "id": "x"}),
    ):
        with pytest.raises(ToolError, match="not in the allow-list") as caught:
            await execute_tool(REGISTRY.get(tool_name), args, context(sqlite_resources))
        assert caught.value.non_retryable


async def test_bad_identifiers_and_bad_sql_are_non_retryable(
    sqlite_resources: ToolResources, context: Ctx
) -> None:
    write = REGISTRY.get("database_write")
    with pytest.raises(ToolError, match="invalid column name") as caught:
        await execute_tool(
            write, {"table": "orders", "values": {"qty; DROP": 1}}, context(sqlite_resources)
        )
    assert caught.value.non_retryable
    with pytest.raises(ToolError, match="no column named") as caught:
        await execute_tool(
            write, {"table": "orders", "values": {"colour": "red"}}, context(sqlite_resources)
        )
    assert caught.value.non_retryable
    assert _rows(sqlite_resources) == []


async def test_invalid_arguments_are_non_retryable(
    sqlite_resources: ToolResources, context: Ctx
) -> None:
    with pytest.raises(ToolError, match="invalid arguments") as caught:
        await execute_tool(
            REGISTRY.get("database_query"),
            {"table": "orders", "limit": 0},
            context(sqlite_resources),
        )
    assert caught.value.non_retryable


async def test_a_separate_target_database_keeps_its_own_ledger(
    tmp_path: Path, context: Ctx
) -> None:
    store = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    target = open_database(f"sqlite:///{tmp_path / 'target.db'}")
    with target.transaction() as cursor:
        cursor.execute(
            "CREATE TABLE orders (id TEXT PRIMARY KEY, tenant_id TEXT, sku TEXT, qty INTEGER)"
        )
    resources = ToolResources(
        ledger=IdempotencyLedger(store), database=target, allowed_tables=frozenset({"orders"})
    )
    try:
        assert resources.database_ledger is not resources.ledger
        write = REGISTRY.get("database_write")
        args = {"table": "orders", "values": {"sku": "D"}}
        parsed = write.input_model.model_validate(args)
        first = await write.func(parsed, context(resources))
        second = await write.func(parsed, context(resources))
        assert first == second
        assert IdempotencyLedger(target).count() == 1
    finally:
        resources.close()


def test_database_urls_are_checked() -> None:
    with pytest.raises(
        ConfigurationError, match="database URL 'mysql://x' names an unsupported backend"
    ):
        open_database("mysql://x")


def test_an_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        open_database("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_sqlite_errors_are_translated(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(StoreError, match="no such table"), database.transaction() as cursor:
            cursor.execute("SELECT * FROM missing")
    finally:
        database.close()


async def test_a_tenant_never_reads_or_deletes_another_tenants_rows(
    resources: ToolResources, context: Ctx
) -> None:
    write, query, delete = (
        REGISTRY.get(name) for name in ("database_write", "database_query", "database_delete")
    )
    ann = await execute_tool(
        write, {"table": "orders", "id": "o-1", "values": {"sku": "ann"}}, context(resources)
    )
    # Bob names Ann's id: he writes his own row under it, and reads and deletes only his.
    bob = await execute_tool(
        write,
        {"table": "orders", "id": "o-1", "values": {"sku": "bob"}},
        context(resources, tenant_id="t2"),
    )
    assert ann["record_id"] == bob["record_id"] == "o-1"
    seen = await execute_tool(query, {"table": "orders"}, context(resources, "q", tenant_id="t2"))
    assert seen == {"rows": [{"id": "o-1", "sku": "bob", "qty": None}]}
    gone = await execute_tool(
        delete, {"table": "orders", "id": "o-1"}, context(resources, "d", tenant_id="t2")
    )
    assert gone == {"deleted": 1}
    again = await execute_tool(
        delete, {"table": "orders", "id": "o-1"}, context(resources, "d2", tenant_id="t2")
    )
    assert again == {"deleted": 0}
    with resources.database.transaction() as cursor:
        cursor.execute("SELECT tenant_id, sku FROM orders")
        assert cursor.fetchall() == [{"tenant_id": "t1", "sku": "ann"}]


async def test_the_tenant_column_cannot_be_named_in_arguments(
    resources: ToolResources, context: Ctx
) -> None:
    for tool_name, args in (
        ("database_write", {"table": "orders", "values": {"tenant_id": "t1", "sku": "x"}}),
        ("database_query", {"table": "orders", "where": {"TENANT_ID": "t1"}}),
    ):
        with pytest.raises(ToolError, match="set by OmniHub") as caught:
            await execute_tool(REGISTRY.get(tool_name), args, context(resources, tenant_id="t2"))
        assert caught.value.non_retryable


def _as_tenant(cursor: SqlCursor, tenant_id: str) -> None:
    cursor.execute("SELECT set_config('omnihub.tenant_id', ?, true)", (tenant_id,))
    cursor.execute("SET LOCAL ROLE omnihub_tenant")


async def test_postgres_row_security_holds_without_the_tools_filter(
    postgres_url: str, context: Ctx
) -> None:
    database = open_database(postgres_url)
    with database.transaction() as cursor:
        cursor.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, tenant_id TEXT, sku TEXT)")
    resources = ToolResources(
        ledger=IdempotencyLedger(database), database=database, allowed_tables=frozenset({"orders"})
    )
    try:
        await execute_tool(
            REGISTRY.get("database_write"),
            {"table": "orders", "values": {"sku": "ann"}},
            context(resources),
        )
        with resources.database.transaction() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cursor.fetchall() == [{"rolsuper": True}]  # superusers bypass RLS...
            # ...so statements run as omnihub_tenant, with the tenant set for the transaction.
            _as_tenant(cursor, "t2")
            cursor.execute("SELECT * FROM orders")
            assert cursor.fetchall() == []
            assert cursor.execute("DELETE FROM orders") == 0
            assert cursor.execute("UPDATE orders SET sku = 'bob'") == 0
        forged = "INSERT INTO orders (id, tenant_id, sku) VALUES ('x', 't1', 'forged')"
        with pytest.raises(StoreError, match="row-level security"):  # noqa: PT012, SIM117
            with resources.database.transaction() as cursor:
                _as_tenant(cursor, "t2")
                cursor.execute(forged)
        with resources.database.transaction() as cursor:
            cursor.execute("SELECT tenant_id, sku FROM orders")
            assert cursor.fetchall() == [{"tenant_id": "t1", "sku": "ann"}]
    finally:
        resources.close()
