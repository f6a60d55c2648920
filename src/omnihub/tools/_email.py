"""send_email over SMTP, with a Message-ID derived from the step's idempotency key.

A retried step sends the same Message-ID, so mail systems that deduplicate on it deliver once;
the ledger stops a resend once the first send is recorded. The window that remains: a worker
that dies after the SMTP server accepted the message and before the ledger row is written
sends it again on retry (with the same Message-ID).
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
from email.message import EmailMessage

from pydantic import BaseModel, Field

from omnihub import telemetry
from omnihub.errors import ToolError
from omnihub.tools._resources import SmtpConfig
from omnihub.tools._spec import RiskLane, ToolContext, tool


class SendEmailInput(BaseModel):
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    subject: str = Field(max_length=998)
    body: str


class SendEmailOutput(BaseModel):
    message_id: str
    recipients: list[str]


def message_id_for(idempotency_key: str) -> str:
    """A stable Message-ID for one step: the same on every retry."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@omnihub>"


def _send(smtp: SmtpConfig, message: EmailMessage) -> None:
    try:
        # obs hook: the SMTP exchange's span (the context follows into this thread)
        with (
            telemetry.span("smtp.send", {"server.address": smtp.host, "server.port": smtp.port}),
            smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client,
        ):
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise ToolError(f"SMTP refused the recipients: {exc}", non_retryable=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ToolError(f"SMTP {smtp.host}:{smtp.port} failed: {exc}") from exc


@tool(name="send_email", side_effect=True, risk=RiskLane.YELLOW)
async def send_email(args: SendEmailInput, ctx: ToolContext) -> SendEmailOutput:
    """Send a plain-text email to the given recipients."""
    smtp = ctx.resources.smtp
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(args.to)
    message["Subject"] = args.subject
    message["Message-ID"] = message_id_for(ctx.idempotency_key)
    message["X-Idempotency-Key"] = ctx.idempotency_key
    message.set_content(args.body)
    await asyncio.to_thread(_send, smtp, message)
    return SendEmailOutput(message_id=str(message["Message-ID"]), recipients=args.to)
