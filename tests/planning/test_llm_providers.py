"""The LLM planners over real HTTP against scripted OpenAI- and Anthropic-protocol servers."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from llm_wire import (
    Reply,
    ScriptedLLM,
    anthropic_text,
    anthropic_tool_use,
    openai_content,
    openai_tool_call,
)

from omnihub.config import load_settings
from omnihub.errors import (
    InvalidPlanError,
    PlanRefusedError,
    ProviderRateLimitError,
    ProviderRequestError,
    ProviderUnavailableError,
)
from omnihub.planning import LLMCall, LLMPlanner, PlanRequest, build_planner
from omnihub.planning._http import parse_retry_after, provider_message
from omnihub.tools import ToolRegistry, default_registry

GOOD_PLAN: dict[str, Any] = {
    "reasoning": "Record the booking, then tell the user.",
    "steps": [
        {
            "id": "s1",
            "tool": "database_write",
            "args": {"table": "bookings", "values": {"origin": "Lyon", "destination": "Nice"}},
            "depends_on": [],
        },
        {
            "id": "s2",
            "tool": "respond_to_user",
            "args": {"message": "Booked Lyon to Nice."},
            "depends_on": ["s1"],
        },
    ],
}
UNKNOWN_TOOL_PLAN = {
    "reasoning": "x",
    "steps": [{"id": "s1", "tool": "teleport", "args": {}, "depends_on": []}],
}
WRONG_TYPES_PLAN = {
    "reasoning": "x",
    "steps": [{"id": "s1", "tool": "respond_to_user", "args": {"message": 42}, "depends_on": []}],
}


@pytest.fixture
def registry() -> ToolRegistry:
    return default_registry()


def _planner(
    server: ScriptedLLM, registry: ToolRegistry, kind: str = "openai", **overrides: Any
) -> LLMPlanner:
    base = server.base_url + ("/v1" if kind == "openai" else "")
    settings = load_settings(
        llm_base_url=base,
        llm_api_key="sk-test",
        llm_model=overrides.pop("model", "gpt-4o-mini" if kind == "openai" else "claude-sonnet-4"),
        llm_timeout_s=overrides.pop("timeout", 2.0),
        llm_backoff_initial_s=0.01,
        llm_backoff_max_s=0.05,
        **overrides,
    )
    planner = build_planner(settings, registry, kind=kind)  # type: ignore[arg-type]
    assert isinstance(planner, LLMPlanner)
    return planner


async def _plan(planner: LLMPlanner, calls: list[LLMCall] | None = None) -> Any:
    try:
        return await planner.plan(
            PlanRequest(goal="Book a train from Lyon to Nice"),
            calls.append if calls is not None else None,
        )
    finally:
        await planner.aclose()


# OpenAI-compatible ---------------------------------------------------------------------------


async def test_openai_good_plan_is_parsed_validated_and_priced(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(Reply(body=openai_content(json.dumps(GOOD_PLAN), tokens=(1000, 200))))
    calls: list[LLMCall] = []
    result = await _plan(_planner(scripted_llm, registry), calls)
    assert [s.tool for s in result.plan.steps] == ["database_write", "respond_to_user"]
    assert result.source == "llm"
    assert result.attempts == 1
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (1000, 200)
    # gpt-4o-mini: $0.15 / $0.60 per million tokens.
    assert result.usage.cost == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    assert len(calls) == 1
    assert calls[0].provider == "openai"
    request = scripted_llm.requests[0]
    assert scripted_llm.paths == ["/v1/chat/completions"]
    assert scripted_llm.headers[0]["authorization"] == "Bearer sk-test"
    assert request["response_format"]["type"] == "json_schema"
    assert request["messages"][0]["role"] == "system"
    assert "database_write" in request["messages"][0]["content"]
    assert "BEGIN UNTRUSTED GOAL" in request["messages"][1]["content"]


async def test_openai_malformed_json_gets_a_repair_turn(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(body=openai_content('{"reasoning": "x", "steps": [')),
        Reply(body=openai_content(json.dumps(GOOD_PLAN))),
    )
    calls: list[LLMCall] = []
    result = await _plan(_planner(scripted_llm, registry), calls)
    assert result.attempts == 2
    assert len(calls) == 2
    assert result.usage.prompt_tokens == 200
    repair = scripted_llm.requests[1]["messages"]
    assert repair[2] == {"role": "assistant", "content": '{"reasoning": "x", "steps": ['}
    assert repair[3]["role"] == "user"
    assert "not valid JSON" in repair[3]["content"]


async def test_openai_unknown_tool_and_wrong_types_are_sent_back(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(body=openai_content(json.dumps(UNKNOWN_TOOL_PLAN))),
        Reply(body=openai_content(json.dumps(WRONG_TYPES_PLAN))),
        Reply(body=openai_content(json.dumps(GOOD_PLAN))),
    )
    result = await _plan(_planner(scripted_llm, registry))
    assert result.attempts == 3
    first_repair = scripted_llm.requests[1]["messages"][-1]["content"]
    second_repair = scripted_llm.requests[2]["messages"][-1]["content"]
    assert "unknown tool 'teleport'" in first_repair
    assert "message" in second_repair
    assert "string" in second_repair


async def test_openai_invalid_after_every_repair_fails_with_the_problems(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(*[Reply(body=openai_content(json.dumps(UNKNOWN_TOOL_PLAN)))] * 2)
    calls: list[LLMCall] = []
    with pytest.raises(InvalidPlanError, match="unknown tool 'teleport'") as raised:
        await _plan(_planner(scripted_llm, registry, planner_repair_attempts=1), calls)
    assert raised.value.problems == ["step 's1': unknown tool 'teleport'"]
    assert len(calls) == 2  # the failed attempts are still recorded for the ledger


async def test_openai_refusal_is_reported_as_such(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(Reply(body=openai_content(None, refusal="I can't help with that.")))
    with pytest.raises(PlanRefusedError, match=r"refused.*can.t help"):
        await _plan(_planner(scripted_llm, registry))
    assert len(scripted_llm.requests) == 1


async def test_openai_content_filter_is_a_refusal(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(Reply(body=openai_content("", finish="content_filter")))
    with pytest.raises(PlanRefusedError, match="content filter"):
        await _plan(_planner(scripted_llm, registry))


async def test_openai_429_honours_retry_after(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"}),
        Reply(body=openai_content(json.dumps(GOOD_PLAN))),
    )
    started = time.monotonic()
    result = await _plan(_planner(scripted_llm, registry))
    assert time.monotonic() - started >= 0.95
    assert len(scripted_llm.requests) == 2
    assert result.plan.steps[0].tool == "database_write"


async def test_openai_429_with_too_long_retry_after_fails_at_once(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(429, {"error": {"message": "quota"}}, headers={"Retry-After": "3600"})
    )
    with pytest.raises(ProviderRateLimitError, match="3600s") as raised:
        await _plan(_planner(scripted_llm, registry, llm_max_retry_after_s=5))
    assert raised.value.retry_after == 3600
    assert raised.value.retryable
    assert len(scripted_llm.requests) == 1


async def test_openai_500_retries_with_backoff_then_succeeds(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(500, {"error": {"message": "boom"}}),
        Reply(503, b"upstream down"),
        Reply(body=openai_content(json.dumps(GOOD_PLAN))),
    )
    result = await _plan(_planner(scripted_llm, registry))
    assert len(scripted_llm.requests) == 3
    assert result.attempts == 1  # HTTP retries are not repair turns


async def test_openai_persistent_500_fails_as_unavailable(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(*[Reply(500, {"error": {"message": "boom"}})] * 3)
    with pytest.raises(ProviderUnavailableError, match="server error 500: boom"):
        await _plan(_planner(scripted_llm, registry, llm_max_retries=2))
    assert len(scripted_llm.requests) == 3


async def test_openai_timeout_retries_then_succeeds(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(body=openai_content(json.dumps(GOOD_PLAN)), delay_s=1.0),
        Reply(body=openai_content(json.dumps(GOOD_PLAN))),
    )
    result = await _plan(_planner(scripted_llm, registry, timeout=0.3))
    assert len(scripted_llm.requests) == 2
    assert result.plan.steps[-1].tool == "respond_to_user"


async def test_openai_timeouts_past_the_retries_fail_as_unavailable(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(*[Reply(body=openai_content("{}"), delay_s=1.0)] * 2)
    with pytest.raises(ProviderUnavailableError, match="timed out"):
        await _plan(_planner(scripted_llm, registry, timeout=0.2, llm_max_retries=1))


async def test_openai_4xx_fails_at_once_with_the_provider_message(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(Reply(401, {"error": {"message": "Incorrect API key provided"}}))
    with pytest.raises(ProviderRequestError, match=r"401.*Incorrect API key") as raised:
        await _plan(_planner(scripted_llm, registry))
    assert raised.value.status == 401
    assert not raised.value.retryable
    assert len(scripted_llm.requests) == 1


async def test_openai_falls_back_to_tool_calling_when_response_format_is_rejected(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(400, {"error": {"message": "response_format json_schema is not supported"}}),
        Reply(body=openai_tool_call(json.dumps(UNKNOWN_TOOL_PLAN))),
        Reply(body=openai_tool_call(json.dumps(GOOD_PLAN))),
    )
    planner = _planner(scripted_llm, registry)
    result = await _plan(planner)
    assert result.attempts == 2
    assert "response_format" in scripted_llm.requests[0]
    tools_request = scripted_llm.requests[1]
    assert "response_format" not in tools_request
    assert tools_request["tool_choice"]["function"]["name"] == "submit_plan"
    # The repair turn answers the tool call with a tool message carrying the problems.
    repair = scripted_llm.requests[2]["messages"]
    assert repair[2]["tool_calls"][0]["id"] == "call_abc"
    assert repair[3]["role"] == "tool"
    assert repair[3]["tool_call_id"] == "call_abc"
    assert "unknown tool 'teleport'" in repair[3]["content"]


async def test_openai_tools_mode_from_settings(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(Reply(body=openai_tool_call(json.dumps(GOOD_PLAN))))
    result = await _plan(_planner(scripted_llm, registry, llm_structured_output="tools"))
    assert "tools" in scripted_llm.requests[0]
    assert result.usage.prompt_tokens == 120


async def test_openai_reply_without_choices_is_a_provider_error(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(Reply(body={"object": "chat.completion"}))
    with pytest.raises(ProviderUnavailableError, match="no choices"):
        await _plan(_planner(scripted_llm, registry))


# Anthropic -----------------------------------------------------------------------------------


async def test_anthropic_good_plan_from_tool_use(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(Reply(body=anthropic_tool_use(GOOD_PLAN, tokens=(2000, 100))))
    calls: list[LLMCall] = []
    result = await _plan(_planner(scripted_llm, registry, kind="anthropic"), calls)
    assert [s.id for s in result.plan.steps] == ["s1", "s2"]
    # claude-sonnet-4-…: $3 / $15 per million tokens (dated name priced by its prefix).
    assert result.usage.cost == pytest.approx((2000 * 3 + 100 * 15) / 1e6)
    assert result.usage.model == "claude-sonnet-4-20250514"
    assert calls[0].provider == "anthropic"
    assert scripted_llm.paths == ["/v1/messages"]
    headers = scripted_llm.headers[0]
    assert headers["x-api-key"] == "sk-test"
    assert headers["anthropic-version"] == "2023-06-01"
    request = scripted_llm.requests[0]
    assert request["tool_choice"] == {"type": "tool", "name": "submit_plan"}
    assert "Tool catalog" in request["system"]
    assert request["messages"][0]["role"] == "user"


async def test_anthropic_repair_answers_the_tool_use_with_an_error_result(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(body=anthropic_tool_use(WRONG_TYPES_PLAN)),
        Reply(body=anthropic_tool_use(GOOD_PLAN)),
    )
    result = await _plan(_planner(scripted_llm, registry, kind="anthropic"))
    assert result.attempts == 2
    messages = scripted_llm.requests[1]["messages"]
    assert messages[1]["role"] == "assistant"
    assert messages[1]["content"][1]["type"] == "tool_use"
    tool_result = messages[2]["content"][0]
    assert tool_result["type"] == "tool_result"
    assert tool_result["tool_use_id"] == "toolu_1"
    assert tool_result["is_error"] is True
    assert "message" in tool_result["content"]


async def test_anthropic_text_reply_with_malformed_json_is_repaired(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(body=anthropic_text("Sure! Here is my plan: steps...")),
        Reply(body=anthropic_text("```json\n" + json.dumps(GOOD_PLAN) + "\n```")),
    )
    result = await _plan(_planner(scripted_llm, registry, kind="anthropic"))
    assert result.attempts == 2
    assert scripted_llm.requests[1]["messages"][2]["role"] == "user"


async def test_anthropic_refusal_stop_reason(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(body=anthropic_text("I won't help with this.", stop_reason="refusal"))
    )
    with pytest.raises(PlanRefusedError, match="won't help"):
        await _plan(_planner(scripted_llm, registry, kind="anthropic"))


async def test_anthropic_429_with_http_date_retry_after_and_529_overloaded(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(
            429,
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
            headers={"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"},
        ),
        Reply(529, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
        Reply(body=anthropic_tool_use(GOOD_PLAN)),
    )
    result = await _plan(_planner(scripted_llm, registry, kind="anthropic"))
    assert len(scripted_llm.requests) == 3
    assert result.plan.steps[0].tool == "database_write"


async def test_anthropic_rate_limit_past_the_retries(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        *[Reply(429, {"error": {"message": "slow"}}, headers={"retry-after-ms": "10"})] * 2
    )
    with pytest.raises(ProviderRateLimitError, match="rate limited"):
        await _plan(_planner(scripted_llm, registry, kind="anthropic", llm_max_retries=1))


async def test_anthropic_400_keeps_the_provider_message(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(
            400,
            {"type": "error", "error": {"type": "invalid_request_error", "message": "bad model"}},
        )
    )
    with pytest.raises(ProviderRequestError, match="bad model"):
        await _plan(_planner(scripted_llm, registry, kind="anthropic"))


async def test_anthropic_timeout_then_success(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(
        Reply(body=anthropic_tool_use(GOOD_PLAN), delay_s=1.0),
        Reply(body=anthropic_tool_use(GOOD_PLAN)),
    )
    result = await _plan(_planner(scripted_llm, registry, kind="anthropic", timeout=0.3))
    assert len(scripted_llm.requests) == 2
    assert result.attempts == 1


async def test_unreachable_provider_is_unavailable(registry: ToolRegistry) -> None:
    settings = load_settings(
        llm_base_url="http://127.0.0.1:9/v1",
        llm_model="m",
        llm_max_retries=1,
        llm_backoff_initial_s=0.01,
    )
    planner = build_planner(settings, registry, kind="openai")
    with pytest.raises(ProviderUnavailableError, match="cannot reach"):
        await planner.plan(PlanRequest(goal="x"))
    await planner.aclose()


def test_retry_after_forms() -> None:
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "soon", "retry-after": "2"})) == 2
    assert parse_retry_after(httpx.Headers({"retry-after": "-5"})) == 0
    assert parse_retry_after(httpx.Headers({"retry-after": "not a date"})) is None
    assert parse_retry_after(httpx.Headers({})) is None
    future = parse_retry_after(httpx.Headers({"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"}))
    assert future is not None
    assert future > 1e9


def test_provider_messages_in_every_shape() -> None:
    def reply(body: object) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(400, text=body)
        return httpx.Response(400, json=body)

    assert provider_message(reply({"error": {"message": "bad key"}})) == "bad key"
    assert provider_message(reply({"error": "plain"})) == "plain"
    assert provider_message(reply({"message": "top level"})) == "top level"
    assert provider_message(reply({"detail": [1]})) == '{"detail": [1]}'
    assert provider_message(reply("<html>gateway</html>")) == "<html>gateway</html>"
    assert provider_message(reply("")) == "Bad Request"


async def test_a_success_reply_that_is_not_a_json_object_is_a_provider_error(
    scripted_llm: ScriptedLLM, registry: ToolRegistry
) -> None:
    scripted_llm.script(Reply(body=b"<html>ok</html>"), Reply(body=[1, 2]))
    with pytest.raises(ProviderUnavailableError, match="not JSON"):
        await _plan(_planner(scripted_llm, registry))
    with pytest.raises(ProviderUnavailableError, match="not a JSON object"):
        await _plan(_planner(scripted_llm, registry))
