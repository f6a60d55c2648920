"""Client for Anthropic's Messages API, handing in the plan through one forced tool call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from omnihub.errors import PlanRefusedError, ProviderUnavailableError
from omnihub.planning._http import JsonEndpoint, RetryPolicy
from omnihub.planning._types import (
    PLAN_JSON_SCHEMA,
    SUBMIT_PLAN_TOOL,
    AssistantTurn,
    Completion,
    RepairTurn,
    Turn,
    UserTurn,
)

DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"

_SUBMIT_TOOL = {
    "name": SUBMIT_PLAN_TOOL,
    "description": "Hand in the plan for the goal. Call it exactly once.",
    "input_schema": PLAN_JSON_SCHEMA,
}


def messages_url(base_url: str | None) -> str:
    """``…/v1/messages`` from a base URL given with or without the ``/v1`` suffix."""
    base = (base_url or DEFAULT_ANTHROPIC_BASE_URL).rstrip("/")
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


class AnthropicMessagesClient:
    """Messages API over httpx with tool use: the plan is the input of a ``submit_plan`` call.

    A repair turn answers that call with a ``tool_result`` flagged ``is_error`` that carries the
    validation problems, which is how the API expects a failed tool call to be reported.
    """

    provider = "anthropic"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_tokens: int = 2048,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.model = model
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        self._max_tokens = max_tokens
        self._endpoint = JsonEndpoint(
            self.provider, messages_url(base_url), headers, timeout_s=timeout_s, retry=retry
        )

    async def aclose(self) -> None:
        await self._endpoint.aclose()

    def _messages(self, turns: Sequence[Turn]) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        last_call: str | None = None
        for turn in turns:
            if isinstance(turn, UserTurn):
                messages.append({"role": "user", "content": turn.text})
            elif isinstance(turn, AssistantTurn):
                messages.append(turn.completion.assistant)
                last_call = turn.completion.call_id
            elif isinstance(turn, RepairTurn) and last_call is not None:
                result = {
                    "type": "tool_result",
                    "tool_use_id": last_call,
                    "is_error": True,
                    "content": turn.text,
                }
                messages.append({"role": "user", "content": [result]})
                last_call = None
            else:
                messages.append({"role": "user", "content": turn.text})
        return messages

    async def complete(self, system: str, turns: Sequence[Turn]) -> Completion:
        payload = {
            "model": self.model,
            "max_tokens": self._max_tokens,
            "temperature": 0,
            "system": system,
            "messages": self._messages(turns),
            "tools": [_SUBMIT_TOOL],
            "tool_choice": {"type": "tool", "name": SUBMIT_PLAN_TOOL},
        }
        reply = await self._endpoint.post(payload)
        return self._parse(reply.body, reply.latency_ms)

    def _parse(self, body: dict[str, Any], latency_ms: float) -> Completion:
        content = body.get("content")
        if not isinstance(content, list):
            raise ProviderUnavailableError(
                f"anthropic: reply has no content: {json.dumps(body)[:200]}", self.provider
            )
        blocks = [block for block in content if isinstance(block, dict)]
        text = "".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text")
        if body.get("stop_reason") == "refusal":
            detail = f": {text.strip()}" if text.strip() else ""
            raise PlanRefusedError(f"the model refused to plan this goal{detail}")
        usage = body.get("usage") or {}
        prompt_tokens = int(usage.get("input_tokens") or 0)
        completion_tokens = int(usage.get("output_tokens") or 0)
        model = str(body.get("model") or self.model)
        payload: str | dict[str, Any] = text
        call_id = None
        for block in blocks:
            if block.get("type") == "tool_use":
                tool_input = block.get("input")
                payload = tool_input if isinstance(tool_input, dict) else str(tool_input)
                call_id = str(block.get("id") or "toolu_0")
                break
        return Completion(
            payload=payload,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=latency_ms,
            call_id=call_id,
            assistant={"role": "assistant", "content": blocks},
        )
