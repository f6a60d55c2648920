from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from omnihub.errors import ToolError
from omnihub.servers import free_port
from omnihub.tools import (
    SmtpConfig,
    ToolContext,
    ToolResources,
    default_registry,
    execute_tool,
    message_id_for,
)

EMAIL = default_registry().get("send_email")
Ctx = Callable[..., ToolContext]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, _: Any
    ) -> str:
        if address.endswith("@refused.test"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if b"Subject: spam" in envelope.original_content:
            return "554 5.7.1 message rejected as spam"
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpConfig, _Inbox]]:
    """A real SMTP server (aiosmtpd) on loopback."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpConfig(host="127.0.0.1", port=port, sender="bot@omnihub.test"), inbox
    controller.stop()


async def test_an_email_is_sent_once_with_a_stable_message_id(
    sqlite_resources: ToolResources, context: Ctx, smtp_server: tuple[SmtpConfig, _Inbox]
) -> None:
    config, inbox = smtp_server
    resources = replace(sqlite_resources, smtp=config)
    args = {"to": ["ann@example.test"], "subject": "Hi", "body": "Your order shipped."}
    first = await execute_tool(EMAIL, args, context(resources))
    second = await execute_tool(EMAIL, args, context(resources))
    assert first == second
    key = context(resources).external_key  # opaque: no tenant or goal id leaves OmniHub
    assert first["message_id"] == message_id_for(key)
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["Message-ID"] == first["message_id"]
    assert message["From"] == "bot@omnihub.test"
    assert message["X-Idempotency-Key"] == key
    assert "t1" not in message.as_string().split("\n\n", 1)[0].replace("Subject: Hi", "")
    assert "Your order shipped." in message.get_payload()


async def test_refused_recipients_are_non_retryable(
    sqlite_resources: ToolResources, context: Ctx, smtp_server: tuple[SmtpConfig, _Inbox]
) -> None:
    config, _ = smtp_server
    resources = replace(sqlite_resources, smtp=config)
    with pytest.raises(ToolError, match="refused") as caught:
        await execute_tool(
            EMAIL, {"to": ["x@refused.test"], "subject": "s", "body": "b"}, context(resources)
        )
    assert caught.value.non_retryable


async def test_an_unreachable_smtp_server_is_retryable(
    sqlite_resources: ToolResources, context: Ctx
) -> None:
    resources = replace(sqlite_resources, smtp=SmtpConfig(port=free_port(), timeout_s=2))
    with pytest.raises(ToolError, match="SMTP") as caught:
        await execute_tool(
            EMAIL, {"to": ["a@b.test"], "subject": "s", "body": "b"}, context(resources)
        )
    assert not caught.value.non_retryable


@pytest.mark.parametrize(
    "args",
    [
        {"to": ["a@b.test"], "subject": "Hi\r\nBcc: all@corp.test", "body": "b"},
        {"to": ["a@b.test\nBcc: all@corp.test"], "subject": "Hi", "body": "b"},
    ],
)
async def test_header_injection_is_refused_for_good(
    sqlite_resources: ToolResources,
    context: Ctx,
    smtp_server: tuple[SmtpConfig, _Inbox],
    args: dict[str, Any],
) -> None:
    config, inbox = smtp_server
    resources = replace(sqlite_resources, smtp=config)
    with pytest.raises(ToolError, match="line break") as caught:
        await execute_tool(EMAIL, args, context(resources))
    assert caught.value.non_retryable
    assert inbox.messages == []


async def test_a_permanent_smtp_refusal_is_not_retried(
    sqlite_resources: ToolResources, context: Ctx, smtp_server: tuple[SmtpConfig, _Inbox]
) -> None:
    config, _ = smtp_server
    resources = replace(sqlite_resources, smtp=config)
    with pytest.raises(ToolError, match="554") as caught:
        await execute_tool(
            EMAIL, {"to": ["a@b.test"], "subject": "spam", "body": "b"}, context(resources)
        )
    assert caught.value.non_retryable
