"""Client for any OpenAI-compatible chat-completions endpoint (OpenAI, Azure, vLLM, Ollama…)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Literal

from omnihub.errors import PlanRefusedError, ProviderRequestError, ProviderUnavailableError
from omnihub.planning._http import JsonEndpoint, RetryPolicy
from omnihub.planning._types import (
    PLAN_JSON_SCHEMA,
    SUBMIT_PLAN_TOOL,
    AssistantTurn,
    Completion,
    Turn,
    UserTurn,
)

logger = logging.getLogger(__name__)

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
OutputMode = Literal["auto", "json_schema", "tools"]

_SUBMIT_TOOL = {
    "type": "function",
    "function": {
        "name": SUBMIT_PLAN_TOOL,
        "description": "Hand in the plan for the goal. Call it exactly once.",
        "parameters": PLAN_JSON_SCHEMA,
    },
}


def _mentions_structured_output(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in ("response_format", "json_schema", "structured"))


class OpenAIChatClient:
    """Chat completions over httpx, asking for the plan as structured output.

    ``mode`` ``json_schema`` sends a JSON Schema response format and reads the plan from the
    message content; ``tools`` makes the model call one ``submit_plan`` function whose arguments
    are the plan; ``auto`` starts with the schema and switches to tools for good when the
    server rejects ``response_format`` (many local servers lack it).
    """

    provider = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        mode: OutputMode = "auto",
        timeout_s: float = 60.0,
        max_tokens: int = 2048,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.model = model
        self.mode: OutputMode = mode
        self._max_tokens = max_tokens
        self._endpoint = JsonEndpoint(
            self.provider,
            (base_url or DEFAULT_OPENAI_BASE_URL).rstrip("/") + "/chat/completions",
            {"Authorization": f"Bearer {api_key}"} if api_key else {},
            timeout_s=timeout_s,
            retry=retry,
        )

    async def aclose(self) -> None:
        await self._endpoint.aclose()

    async def complete(self, system: str, turns: Sequence[Turn]) -> Completion:
        use_tools = self.mode == "tools"
        try:
            return await self._complete(system, turns, use_tools=use_tools)
        except ProviderRequestError as exc:
            if self.mode != "auto" or exc.status not in (400, 404, 422):
                raise
            if not _mentions_structured_output(str(exc)):
                raise
            logger.warning("%s lacks JSON Schema output; using tool calling", self._endpoint.url)
            self.mode = "tools"
            return await self._complete(system, turns, use_tools=True)

    def _messages(self, system: str, turns: Sequence[Turn]) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        last_call: str | None = None
        for turn in turns:
            if isinstance(turn, UserTurn):
                messages.append({"role": "user", "content": turn.text})
            elif isinstance(turn, AssistantTurn):
                messages.append(turn.completion.assistant)
                last_call = turn.completion.call_id
            elif last_call is not None:
                messages.append({"role": "tool", "tool_call_id": last_call, "content": turn.text})
                last_call = None
            else:
                messages.append({"role": "user", "content": turn.text})
        return messages

    async def _complete(self, system: str, turns: Sequence[Turn], *, use_tools: bool) -> Completion:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": self._messages(system, turns),
            "temperature": 0,
            "max_tokens": self._max_tokens,
        }
        if use_tools:
            payload["tools"] = [_SUBMIT_TOOL]
            payload["tool_choice"] = {"type": "function", "function": {"name": SUBMIT_PLAN_TOOL}}
        else:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "plan", "schema": PLAN_JSON_SCHEMA, "strict": False},
            }
        reply = await self._endpoint.post(payload)
        return self._parse(reply.body, reply.latency_ms)

    def _parse(self, body: dict[str, Any], latency_ms: float) -> Completion:
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProviderUnavailableError(
                f"openai: reply has no choices: {json.dumps(body)[:200]}", self.provider
            )
        choice = choices[0]
        message = choice.get("message") or {}
        if not isinstance(message, dict):
            message = {}
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal:
            raise PlanRefusedError(f"the model refused to plan this goal: {refusal}")
        if choice.get("finish_reason") == "content_filter":
            raise PlanRefusedError("the model refused to plan this goal (content filter)")
        usage = body.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        model = str(body.get("model") or self.model)
        assistant: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        payload = str(message.get("content") or "")
        call_id = None
        tool_calls = message.get("tool_calls")
        if isinstance(tool_calls, list) and tool_calls:
            call = tool_calls[0]
            assistant["tool_calls"] = [call]
            payload = str((call.get("function") or {}).get("arguments") or "")
            call_id = str(call.get("id") or "call_0")
        return Completion(
            payload=payload,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=latency_ms,
            call_id=call_id,
            assistant=assistant,
        )
