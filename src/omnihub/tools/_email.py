"""send_email over SMTP, with a Message-ID derived from the step's idempotency key.

A retried step sends the same Message-ID (from the step's opaque external key, never the
tenant or goal id), so mail systems that deduplicate on it deliver once;
the ledger stops a resend once the first send is recorded. The window that remains: a worker
that dies after the SMTP server accepted the message and before the ledger row is written
sends it again on retry (with the same Message-ID).
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
from email.message import EmailMessage

from pydantic import BaseModel, Field, field_validator

from omnihub import telemetry
from omnihub.errors import ToolError
from omnihub.tools._resources import SmtpConfig
from omnihub.tools._spec import RiskLane, ToolContext, tool


class SendEmailInput(BaseModel):
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    subject: str = Field(max_length=998)
    body: str

    @field_validator("to", "subject")
    @classmethod
    def _one_line(cls, value: str | list[str]) -> str | list[str]:
        # A line break in a header would inject headers (and is never fixed by a retry).
        for item in [value] if isinstance(value, str) else value:
            if any(c in item for c in "\r\n\0"):
                raise ValueError("header values may not contain line breaks or NUL")
        return value


class SendEmailOutput(BaseModel):
    message_id: str
    recipients: list[str]


def message_id_for(external_key: str) -> str:
    """A stable Message-ID for one step (from ``ToolContext.external_key``): the same on
    every retry."""
    digest = hashlib.sha256(external_key.encode()).hexdigest()[:32]
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
    except smtplib.SMTPResponseException as exc:
        # 5xx is a permanent refusal (RFC 5321); 4xx may pass on a later try.
        permanent = 500 <= exc.smtp_code < 600
        raise ToolError(f"SMTP refused the message: {exc}", non_retryable=permanent) from exc
    except ValueError as exc:
        raise ToolError(f"SMTP cannot send the message: {exc}", non_retryable=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ToolError(f"SMTP {smtp.host}:{smtp.port} failed: {exc}") from exc


@tool(name="send_email", side_effect=True, risk=RiskLane.YELLOW)
async def send_email(args: SendEmailInput, ctx: ToolContext) -> SendEmailOutput:
    """Send a plain-text email to the given recipients."""
    smtp = ctx.resources.smtp
    message = EmailMessage()
    try:
        message["From"] = smtp.sender
        message["To"] = ", ".join(args.to)
        message["Subject"] = args.subject
        message["Message-ID"] = message_id_for(ctx.external_key)
        message["X-Idempotency-Key"] = ctx.external_key
        message.set_content(args.body)
    except (ValueError, TypeError) as exc:
        # The email package refuses malformed headers; the same input fails every time.
        raise ToolError(f"cannot build the message: {exc}", non_retryable=True) from exc
    await asyncio.to_thread(_send, smtp, message)
    return SendEmailOutput(message_id=str(message["Message-ID"]), recipients=args.to)
