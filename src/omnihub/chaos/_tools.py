"""The chaos suite's tools, registered in every chaos worker (``--tools
omnihub.chaos:chaos_tools``): faults on demand, a reservation whose undo fails twice before it
succeeds, and an approval gate. Each attempt is logged with the worker's pid, so the driver
can kill the worker that holds a step between its commit and its completion.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from omnihub.errors import ToolError
from omnihub.tools import (
    Compensation,
    RetrySpec,
    RiskLane,
    SqlCursor,
    ToolContext,
    ToolFunc,
    ToolSpec,
    tool,
)

EFFECTS_TABLE = "chaos_effects"
LOG_TABLE = "chaos_log"
FaultKind = Literal["none", "retryable", "non_retryable", "timeout", "slow"]
# Short retries and timeouts, so that faults cost seconds, not minutes.
_RETRY = RetrySpec(initial_interval_s=0.2, backoff=2.0, max_interval_s=2.0, max_attempts=6)
_TIMEOUT_S = 3.0
_HEARTBEAT_S = 1.5


def playbook_dir() -> Path:
    """The chaos playbooks (``OMNIHUB_PLAYBOOK_DIRS`` of chaos workers)."""
    return Path(__file__).parent / "playbooks"


def create_tables(cursor: SqlCursor) -> None:
    """The tables the chaos tools (and ``database_write`` in chaos plans) write to."""
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {EFFECTS_TABLE} "
        # database_write scopes rows by tenant_id (ids are unique per tenant).
        "(id TEXT NOT NULL, tenant_id TEXT NOT NULL, goal TEXT, step TEXT, tool TEXT,"
        " PRIMARY KEY (tenant_id, id))"
    )
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {LOG_TABLE} (id TEXT PRIMARY KEY, goal TEXT, step TEXT, "
        "tool TEXT, attempt INTEGER, pid INTEGER, phase TEXT, at DOUBLE PRECISION)"
    )


def _log(ctx: ToolContext, tool_name: str, phase: str, cursor: SqlCursor | None = None) -> None:
    row = (
        uuid.uuid4().hex,
        ctx.goal_id,
        ctx.step_id,
        tool_name,
        ctx.attempt,
        os.getpid(),
        phase,
        time.time(),
    )
    sql = f"INSERT INTO {LOG_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    if cursor is not None:
        cursor.execute(sql, row)
        return
    with ctx.resources.database.transaction() as own:
        own.execute(sql, row)


async def _linger(ctx: ToolContext, seconds: float) -> None:
    """Wait, heartbeating: the window in which a kill lands after the commit."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.1)
        ctx.heartbeat()


class FaultInput(BaseModel):
    kind: FaultKind = "none"
    seconds: float = Field(0.0, ge=0, description="How long a slow step works.")


class FaultOutput(BaseModel):
    kind: str
    attempt: int


class ReserveInput(BaseModel):
    holder: str = Field("", description="Whom the reservation is for (planner-made goals).")
    linger_s: float = Field(0.0, ge=0, description="Work on after the commit, heartbeating.")
    release_failures: int = Field(0, ge=0, description="Attempts of the undo that fail first.")


class ReserveOutput(BaseModel):
    record_id: str
    linger_s: float
    release_failures: int


class ReleaseInput(BaseModel):
    id: str
    linger_s: float = 0.0
    release_failures: int = 0


class ReleaseOutput(BaseModel):
    deleted: int


class GateInput(BaseModel):
    reason: str = ""


class GateOutput(BaseModel):
    passed: bool


async def chaos_fault_impl(args: FaultInput, ctx: ToolContext) -> FaultOutput:
    """A step that fails, times out or works slowly on its first attempt, as told."""
    first = ctx.attempt == 1
    if args.kind != "none" and (first or args.kind in ("non_retryable", "slow")):
        await asyncio.to_thread(_log, ctx, "chaos_fault", f"fault:{args.kind}")
    if args.kind == "retryable" and first:
        raise ToolError("chaos: a retryable fault")
    if args.kind == "non_retryable":
        raise ToolError("chaos: a non-retryable fault", non_retryable=True)
    if args.kind == "timeout" and first:
        await asyncio.sleep(_TIMEOUT_S + 2.0)  # past start-to-close: Temporal retries
    if args.kind == "slow":
        await _linger(ctx, args.seconds)
    return FaultOutput(kind=args.kind, attempt=ctx.attempt)


async def chaos_reserve_impl(args: ReserveInput, ctx: ToolContext) -> ReserveOutput:
    """Insert one effect row (a random id: a second insert would be a second row) with its
    ledger row in one transaction, then linger."""
    ledger = ctx.resources.database_ledger
    key = ctx.idempotency_key

    def insert() -> ReserveOutput:
        ledger.ensure_schema()
        with ctx.resources.database.transaction() as cursor:
            if not ledger.claim_in(cursor, key, ctx.tenant_id, "chaos_reserve"):
                return ReserveOutput.model_validate(ledger.lookup_in(cursor, key))
            record_id = uuid.uuid4().hex
            cursor.execute(
                f"INSERT INTO {EFFECTS_TABLE} (id, tenant_id, goal, step, tool)"
                " VALUES (?, ?, ?, ?, ?)",
                (record_id, ctx.tenant_id, ctx.goal_id, ctx.step_id, "chaos_reserve"),
            )
            output = ReserveOutput(
                record_id=record_id, linger_s=args.linger_s, release_failures=args.release_failures
            )
            ledger.record_in(cursor, key, output.model_dump())
            _log(ctx, "chaos_reserve", "committed", cursor)
            return output

    output = await asyncio.to_thread(insert)
    await _linger(ctx, args.linger_s)
    return output


async def chaos_release_impl(args: ReleaseInput, ctx: ToolContext) -> ReleaseOutput:
    """Undo a reservation: fails ``release_failures`` times first, then deletes the row with
    its ledger row in one transaction and lingers (a kill lands during the compensation)."""
    await asyncio.to_thread(_log, ctx, "chaos_release", "began")
    if ctx.attempt <= args.release_failures:
        await asyncio.to_thread(_log, ctx, "chaos_release", "fault:compensation")
        raise ToolError(f"chaos: the release fails on attempt {ctx.attempt}")
    ledger = ctx.resources.database_ledger
    key = ctx.idempotency_key

    def delete() -> ReleaseOutput:
        ledger.ensure_schema()
        with ctx.resources.database.transaction() as cursor:
            if not ledger.claim_in(cursor, key, ctx.tenant_id, "chaos_release"):
                return ReleaseOutput.model_validate(ledger.lookup_in(cursor, key))
            deleted = cursor.execute(f"DELETE FROM {EFFECTS_TABLE} WHERE id = ?", (args.id,))
            output = ReleaseOutput(deleted=deleted)
            ledger.record_in(cursor, key, output.model_dump())
            _log(ctx, "chaos_release", "committed", cursor)
            return output

    output = await asyncio.to_thread(delete)
    await _linger(ctx, args.linger_s)
    return output


async def chaos_gate_impl(args: GateInput, ctx: ToolContext) -> GateOutput:
    """A step a person must approve first."""
    return GateOutput(passed=True)


def _spec(
    func: ToolFunc,
    name: str,
    *,
    side_effect: bool = False,
    requires_approval: bool = False,
    compensation: Compensation | None = None,
) -> ToolSpec:
    return tool(
        name=name,
        side_effect=side_effect,
        risk=RiskLane.RED if requires_approval else RiskLane.YELLOW,
        requires_approval=requires_approval,
        retry=_RETRY,
        start_to_close_timeout_s=_TIMEOUT_S,
        heartbeat_timeout_s=_HEARTBEAT_S,
        compensation=compensation,
    )(func)


def chaos_tools() -> list[ToolSpec]:
    """The chaos tools, as ``omnihub worker --tools omnihub.chaos:chaos_tools`` loads them."""
    undo = Compensation(
        "chaos_release",
        {
            "id": "output.record_id",
            "linger_s": "input.linger_s",
            "release_failures": "input.release_failures",
        },
    )
    return [
        _spec(chaos_fault_impl, "chaos_fault"),
        _spec(chaos_gate_impl, "chaos_gate", requires_approval=True),
        _spec(chaos_release_impl, "chaos_release", side_effect=True),
        _spec(chaos_reserve_impl, "chaos_reserve", side_effect=True, compensation=undo),
    ]
