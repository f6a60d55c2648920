"""database_write / database_query / database_delete: parameterised SQL on allowed tables.

Every target table needs a text primary key column ``id`` and a text column ``tenant_id``.
A write and its ledger row commit in one transaction, so a write happens exactly once however
often the step is retried.

Tenants are isolated twice. The tool writes the calling tenant into ``tenant_id`` and adds
``tenant_id = <caller>`` to every statement; arguments may not name that column. On PostgreSQL
each statement also runs as the role ``omnihub_tenant`` with the tenant set for the
transaction only (``SET LOCAL``), under a forced row-level security policy: a statement that
slipped past the tool's filter would still see and touch only the caller's rows. (Superusers
and table owners bypass row-level security, hence the separate role.) Give tables a primary
key of ``(tenant_id, id)`` so that one tenant's id never collides with another's.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from omnihub.errors import StoreError, StoreUnavailableError, ToolError
from omnihub.tools._spec import Compensation, RiskLane, ToolContext, tool
from omnihub.tools._sql import SqlCursor, SqlDatabase

_Output = TypeVar("_Output", bound=BaseModel)

Scalar = str | int | float | bool | None
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_ID_NAMESPACE = uuid.UUID("6f1d8a0e-7a57-4c38-9a35-0b5a4f7f0c11")
TENANT_COLUMN = "tenant_id"
TENANT_ROLE = "omnihub_tenant"
_TENANT_SETTING = "omnihub.tenant_id"
# Tables already secured, per database object. Weak keys, not id(): a new database object can
# reuse a collected one's id, and would then skip the GRANT its own database still needs.
_secured: weakref.WeakKeyDictionary[SqlDatabase, set[str]] = weakref.WeakKeyDictionary()
_secured_lock = threading.Lock()


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


def _column(name: str) -> str:
    if name.lower() == TENANT_COLUMN:
        raise ToolError(f"the column {TENANT_COLUMN!r} is set by OmniHub", non_retryable=True)
    return _quoted(name, "column")


def secure_table(database: SqlDatabase, table: str) -> None:
    """Make ``table`` tenant-scoped on PostgreSQL (idempotent): the role ``omnihub_tenant``
    may use it, and a forced row-level security policy limits every statement to the tenant
    set for the transaction. Needs the table's owner; on SQLite the tool's filter is all.
    Done once per table and database object."""
    if database.dialect != "postgresql" or table in _secured.get(database, ()):
        return
    quoted = _quoted(table, "table")
    check = f"{TENANT_COLUMN} = current_setting('{_TENANT_SETTING}', true)"
    with _secured_lock:
        with database.transaction() as cursor:
            # One setup at a time across processes: CREATE ROLE and CREATE POLICY race.
            cursor.execute("SELECT pg_advisory_xact_lock(?)", (0x0A1B2C3D,))
            cursor.execute(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                f"'{TENANT_ROLE}') THEN CREATE ROLE {TENANT_ROLE} NOLOGIN NOBYPASSRLS; "
                "END IF; END $$"
            )
            cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {quoted} TO {TENANT_ROLE}")
            cursor.execute(f"ALTER TABLE {quoted} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {quoted} FORCE ROW LEVEL SECURITY")
            cursor.execute(f"DROP POLICY IF EXISTS omnihub_tenant_rows ON {quoted}")
            cursor.execute(
                f"CREATE POLICY omnihub_tenant_rows ON {quoted} USING ({check}) "
                f"WITH CHECK ({check})"
            )
        _secured.setdefault(database, set()).add(table)


def _as_tenant(ctx: ToolContext, cursor: SqlCursor) -> None:
    """Run the rest of the transaction's statements as the tenant (PostgreSQL)."""
    if ctx.resources.database.dialect == "postgresql":
        cursor.execute("SELECT set_config(?, ?, true)", (_TENANT_SETTING, ctx.tenant_id))
        cursor.execute(f"SET LOCAL ROLE {TENANT_ROLE}")


def _as_owner(ctx: ToolContext, cursor: SqlCursor) -> None:
    """Back to the connection's own role, for the ledger row (PostgreSQL)."""
    if ctx.resources.database.dialect == "postgresql":
        cursor.execute("RESET ROLE")


def _as_tool_error(exc: StoreError) -> ToolError:
    # An unreachable database may come back; a rejected statement will not.
    return ToolError(str(exc), non_retryable=not isinstance(exc, StoreUnavailableError))


async def _once(
    ctx: ToolContext,
    table: str,
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
        secure_table(ctx.resources.database, table)
        with ctx.resources.database.transaction() as cursor:
            if not ledger.claim_in(cursor, key, ctx.tenant_id, tool_name):
                return model.model_validate(ledger.lookup_in(cursor, key))
            _as_tenant(ctx, cursor)
            output = act(cursor)
            _as_owner(ctx, cursor)
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
    columns = [_column(name) for name in args.values if name != "id"]
    record_id = args.id or str(uuid.uuid5(_ID_NAMESPACE, ctx.idempotency_key))
    params = [record_id, ctx.tenant_id, *(v for k, v in args.values.items() if k != "id")]
    sql = (
        f'INSERT INTO {table} ("id", "{TENANT_COLUMN}"{"".join(", " + c for c in columns)}) '
        f"VALUES ({', '.join('?' for _ in params)})"
    )
    output = DatabaseWriteOutput(record_id=record_id, table=args.table)

    def write(cursor: SqlCursor) -> DatabaseWriteOutput:
        cursor.execute(sql, params)
        return output

    return await _once(ctx, args.table, "database_write", DatabaseWriteOutput, write)


@tool(name="database_query", risk=RiskLane.GREEN)
async def database_query(args: DatabaseQueryInput, ctx: ToolContext) -> DatabaseQueryOutput:
    """Read records of an allowed table that match column equalities."""
    table = _table(ctx, args.table)
    conditions = [f'"{TENANT_COLUMN}" = ?', *(f"{_column(name)} = ?" for name in args.where)]
    sql = (
        f"SELECT * FROM {table} WHERE {' AND '.join(conditions)} "
        f'ORDER BY "id" LIMIT {int(args.limit)}'
    )

    def query() -> list[dict[str, Any]]:
        secure_table(ctx.resources.database, args.table)
        with ctx.resources.database.transaction() as cursor:
            _as_tenant(ctx, cursor)
            cursor.execute(sql, [ctx.tenant_id, *args.where.values()])
            # The tenant column is the caller's own on every row: no need to show it.
            return [
                {k: v for k, v in row.items() if k != TENANT_COLUMN} for row in cursor.fetchall()
            ]

    try:
        return DatabaseQueryOutput(rows=await asyncio.to_thread(query))
    except StoreError as exc:
        raise _as_tool_error(exc) from exc


@tool(name="database_delete", side_effect=True, risk=RiskLane.YELLOW)
async def database_delete(args: DatabaseDeleteInput, ctx: ToolContext) -> DatabaseDeleteOutput:
    """Delete one record of an allowed table by id (deleting a missing record is not an error)."""
    table = _table(ctx, args.table)

    def delete(cursor: SqlCursor) -> DatabaseDeleteOutput:
        deleted = cursor.execute(
            f'DELETE FROM {table} WHERE "id" = ? AND "{TENANT_COLUMN}" = ?',
            (args.id, ctx.tenant_id),
        )
        return DatabaseDeleteOutput(deleted=deleted)

    return await _once(ctx, args.table, "database_delete", DatabaseDeleteOutput, delete)
