"""The example domain's payment tools: real rows in the tools' database, and a card processor
that can be told to decline the next charge (a row in ``payment_failures``)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from omnihub.errors import ToolError
from omnihub.tools import Compensation, RetrySpec, ToolContext, ToolSpec, tool

SCHEMA = (
    # database_* tools scope rows by tenant_id; ids are unique per tenant.
    "CREATE TABLE IF NOT EXISTS bookings (id TEXT NOT NULL, tenant_id TEXT NOT NULL, kind TEXT,"
    " origin TEXT, destination TEXT, date TEXT, PRIMARY KEY (tenant_id, id))",
    "CREATE TABLE IF NOT EXISTS seats (id TEXT NOT NULL, tenant_id TEXT NOT NULL, origin TEXT,"
    " destination TEXT, date TEXT, PRIMARY KEY (tenant_id, id))",
    "CREATE TABLE IF NOT EXISTS payments (id TEXT PRIMARY KEY, kind TEXT, payee TEXT,"
    " amount REAL, currency TEXT, reference TEXT, status TEXT)",
    "CREATE TABLE IF NOT EXISTS payment_failures (id INTEGER PRIMARY KEY, reason TEXT)",
)
TABLES = ("bookings", "seats", "payments")
_FAST = RetrySpec(initial_interval_s=0.2, backoff=2.0, max_interval_s=1.0, max_attempts=3)


class ChargeInput(BaseModel):
    amount: float = Field(gt=0, description="Amount to charge.")
    currency: str = Field(min_length=3, max_length=3, description="ISO currency code.")
    reference: str = Field(min_length=1, description="What the charge is for.")


class WireInput(BaseModel):
    payee: str = Field(min_length=3, description="E-mail address of the payee.")
    amount: float = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)


class PaymentOutput(BaseModel):
    payment_id: str


class RefundInput(BaseModel):
    payment_id: str


class RefundOutput(BaseModel):
    payment_id: str
    status: str


def _run(ctx: ToolContext, sql: str, params: tuple[Any, ...]) -> int:
    with ctx.resources.database.transaction() as cursor:
        return int(cursor.execute(sql, params) or 0)


def _declined(ctx: ToolContext) -> str | None:
    """Take one queued failure, if any (in its own transaction, so it is used up)."""
    with ctx.resources.database.transaction() as cursor:
        cursor.execute("SELECT id, reason FROM payment_failures ORDER BY id LIMIT 1")
        rows = cursor.fetchall()
        if not rows:
            return None
        row = rows[0]
        cursor.execute("DELETE FROM payment_failures WHERE id = ?", (row["id"],))
        return str(row["reason"])


def _record(ctx: ToolContext, kind: str, payee: str, amount: float, currency: str, ref: str) -> str:
    # The idempotency key is the payment id: a retried call finds its own row and does nothing.
    # ON CONFLICT rather than SQLite's INSERT OR IGNORE, so the tools also run on PostgreSQL.
    _run(
        ctx,
        "INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, 'captured') ON CONFLICT (id) DO NOTHING",
        (ctx.idempotency_key, kind, payee, amount, currency.upper(), ref),
    )
    return ctx.idempotency_key


@tool(
    name="refund_card",
    side_effect=True,
    retry=_FAST,
    description="Refund a captured payment (idempotent).",
)
async def refund_card(args: RefundInput, ctx: ToolContext) -> RefundOutput:
    # A payment id is its charge's idempotency key, which starts with the tenant: a tenant
    # can only ever refund its own payments, whatever id it names.
    prefix = f"{ctx.tenant_id}/"
    refunded = await asyncio.to_thread(
        _run,
        ctx,
        "UPDATE payments SET status = 'refunded' WHERE id = ? AND substr(id, 1, ?) = ?",
        (args.payment_id, len(prefix), prefix),
    )
    return RefundOutput(payment_id=args.payment_id, status="refunded" if refunded else "unknown")


@tool(
    name="charge_card",
    side_effect=True,
    risk="yellow",
    retry=_FAST,
    description="Charge the customer's card on file; undone by refund_card.",
    compensation=Compensation("refund_card", {"payment_id": "output.payment_id"}),
)
async def charge_card(args: ChargeInput, ctx: ToolContext) -> PaymentOutput:
    reason = await asyncio.to_thread(_declined, ctx)
    if reason is not None:
        raise ToolError(f"card declined: {reason}", non_retryable=True)
    payment_id = await asyncio.to_thread(
        _record, ctx, "card", "customer", args.amount, args.currency, args.reference
    )
    return PaymentOutput(payment_id=payment_id)


@tool(
    name="wire_transfer",
    side_effect=True,
    risk="red",
    requires_approval=True,
    retry=_FAST,
    description="Send money by bank transfer; a person must approve it first.",
    compensation=Compensation("refund_card", {"payment_id": "output.payment_id"}),
)
async def wire_transfer(args: WireInput, ctx: ToolContext) -> PaymentOutput:
    payment_id = await asyncio.to_thread(
        _record, ctx, "wire", args.payee, args.amount, args.currency, "wire"
    )
    return PaymentOutput(payment_id=payment_id)


def example_tools() -> list[ToolSpec]:
    """The example domain's tools, to register next to the built-in ones."""
    return [charge_card, refund_card, wire_transfer]
