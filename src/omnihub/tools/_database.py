"""database_write / database_query / database_delete: parameterised SQL on allowed tables.

Every target table needs a text primary key column ``id``. A write and its ledger row commit in
one transaction, so a write happens exactly once however often the step is retried.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from omnihub.errors import StoreError, StoreUnavailableError, ToolError
from omnihub.tools._spec import Compensation, RiskLane, ToolContext, tool
from omnihub.tools._sql import SqlCursor

_Output = TypeVar("_Output", bound=BaseModel)

Scalar = str | int | float | bool | None
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_ID_NAMESPACE = uuid.UUID("6f1d8a0e-7a57-4c38-9a35-0b5a4f7f0c11")


class DatabaseWriteInput(BaseModel):
    table: str = Field(description="An allowed table with a text primary key column 'id'.")
    values: dict[str, Scalar] = Field(description="Column names to values.")
    id: str | None = Field(None, description="The record id; derived from the step if unset.")


class DatabaseWriteOutput(BaseModel):
    record_id: str
    table: str


class DatabaseQueryInput(BaseModel):
    table: str = Field(description="An allowed table.")
    where: dict[str, Scalar] = Field(default_factory=dict, description="Column equalities.")
    limit: int = Field(100, ge=1, le=1000)


class DatabaseQueryOutput(BaseModel):
    rows: list[dict[str, Any]]


class DatabaseDeleteInput(BaseModel):
    table: str = Field(description="An allowed table.")
    id: str = Field(description="The id of the record to delete.")


class DatabaseDeleteOutput(BaseModel):
    deleted: int


def _quoted(name: str, what: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ToolError(f"invalid {what} name {name!r}", non_retryable=True)
    return f'"{name}"'


def _table(ctx: ToolContext, table: str) -> str:
    if table not in ctx.resources.allowed_tables:
        raise ToolError(f"table {table!r} is not in the allow-list", non_retryable=True)
    return _quoted(table, "table")


def _as_tool_error(exc: StoreError) -> ToolError:
    # An unreachable database may come back; a rejected statement will not.
    return ToolError(str(exc), non_retryable=not isinstance(exc, StoreUnavailableError))


async def _once(
    ctx: ToolContext,
    tool_name: str,
    model: type[_Output],
    act: Callable[[SqlCursor], _Output],
) -> _Output:
    """Run ``act`` and write its ledger row in one transaction, unless the row exists: then
    return the recorded output and act not at all (exactly once)."""
    ledger = ctx.resources.database_ledger
    key = ctx.idempotency_key

    def run() -> _Output:
        ledger.ensure_schema()
        with ctx.resources.database.transaction() as cursor:
            if not ledger.claim_in(cursor, key, ctx.tenant_id, tool_name):
                return model.model_validate(ledger.lookup_in(cursor, key))
            output = act(cursor)
            ledger.record_in(cursor, key, output.model_dump(mode="json"))
            return output

    try:
        return await asyncio.to_thread(run)
    except StoreError as exc:
        raise _as_tool_error(exc) from exc


@tool(
    name="database_write",
    side_effect=True,
    risk=RiskLane.YELLOW,
    compensation=Compensation(
        "database_delete", {"table": "input.table", "id": "output.record_id"}
    ),
)
async def database_write(args: DatabaseWriteInput, ctx: ToolContext) -> DatabaseWriteOutput:
    """Insert one record into an allowed table; undone by database_delete."""
    table = _table(ctx, args.table)
    columns = [_quoted(name, "column") for name in args.values if name != "id"]
    record_id = args.id or str(uuid.uuid5(_ID_NAMESPACE, ctx.idempotency_key))
    params = [record_id, *(v for k, v in args.values.items() if k != "id")]
    sql = (
        f'INSERT INTO {table} ("id"{"".join(", " + c for c in columns)}) '
        f"VALUES ({', '.join('?' for _ in params)})"
    )
    output = DatabaseWriteOutput(record_id=record_id, table=args.table)

    def write(cursor: SqlCursor) -> DatabaseWriteOutput:
        cursor.execute(sql, params)
        return output

    return await _once(ctx, "database_write", DatabaseWriteOutput, write)


@tool(name="database_query", risk=RiskLane.GREEN)
async def database_query(args: DatabaseQueryInput, ctx: ToolContext) -> DatabaseQueryOutput:
    """Read records of an allowed table that match column equalities."""
    table = _table(ctx, args.table)
    conditions = [f"{_quoted(name, 'column')} = ?" for name in args.where]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f'SELECT * FROM {table}{where} ORDER BY "id" LIMIT {int(args.limit)}'

    def query() -> list[dict[str, Any]]:
        with ctx.resources.database.transaction() as cursor:
            cursor.execute(sql, list(args.where.values()))
            rows: list[dict[str, Any]] = cursor.fetchall()
            return rows

    try:
        return DatabaseQueryOutput(rows=await asyncio.to_thread(query))
    except StoreError as exc:
        raise _as_tool_error(exc) from exc


@tool(name="database_delete", side_effect=True, risk=RiskLane.YELLOW)
async def database_delete(args: DatabaseDeleteInput, ctx: ToolContext) -> DatabaseDeleteOutput:
    """Delete one record of an allowed table by id (deleting a missing record is not an error)."""
    table = _table(ctx, args.table)

    def delete(cursor: SqlCursor) -> DatabaseDeleteOutput:
        deleted = cursor.execute(f'DELETE FROM {table} WHERE "id" = ?', (args.id,))
        return DatabaseDeleteOutput(deleted=deleted)

    return await _once(ctx, "database_delete", DatabaseDeleteOutput, delete)
