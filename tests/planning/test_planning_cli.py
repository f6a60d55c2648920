"""``omnihub plan`` and ``omnihub usage`` run in-process against a scripted LLM endpoint."""

from __future__ import annotations

import json

import pytest
from llm_wire import Reply, ScriptedLLM, anthropic_tool_use, openai_content

from omnihub.cli import main

PLAN = {
    "reasoning": "answer",
    "steps": [{"id": "s1", "tool": "respond_to_user", "args": {"message": "hi"}, "depends_on": []}],
}


def _run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr("sys.argv", ["omnihub", *argv])
    try:
        main()
    except SystemExit as exited:
        return exited.code if isinstance(exited.code, int) else 1
    return 0


def test_plan_json_with_openai_settings_from_the_environment(
    scripted_llm: ScriptedLLM,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OMNIHUB_LLM_BASE_URL", scripted_llm.base_url + "/v1")
    monkeypatch.setenv("OMNIHUB_LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OMNIHUB_LLM_API_KEY", "sk-env")
    monkeypatch.setenv("COLUMNS", "160")
    scripted_llm.script(Reply(body=openai_content(json.dumps(PLAN), tokens=(1000, 100))))
    assert _run(monkeypatch, "plan", "Say hi", "--tenant", "acme", "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "plan": PLAN["steps"],
        "source": "llm",
        "usage": {
            "model": "gpt-4o-mini",
            "prompt_tokens": 1000,
            "completion_tokens": 100,
            "cost": pytest.approx((1000 * 0.15 + 100 * 0.6) / 1e6),
        },
    }
    assert scripted_llm.headers[0]["authorization"] == "Bearer sk-env"

    assert _run(monkeypatch, "usage", "--tenant", "acme", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    assert rows[0]["model"] == "gpt-4o-mini"
    assert rows[0]["calls"] == 1
    assert rows[0]["prompt_tokens"] == 1000
    assert _run(monkeypatch, "usage", "--tenant", "acme", "--since", "2000-01-01") == 0
    table = capsys.readouterr().out
    assert "gpt-4o-mini" in table
    assert "total" in table
    assert _run(monkeypatch, "usage", "--tenant", "acme", "--since", "2999-01-01T00:00") == 0
    assert "gpt-4o-mini" not in capsys.readouterr().out


def test_plan_flags_pick_anthropic_and_print_a_table(
    scripted_llm: ScriptedLLM,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scripted_llm.script(Reply(body=anthropic_tool_use(PLAN)))
    code = _run(
        monkeypatch,
        "plan",
        "Say hi",
        "--planner",
        "anthropic",
        "--base-url",
        scripted_llm.base_url,
        "--model",
        "claude-sonnet-4",
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "respond_to_user" in out
    assert "claude-sonnet-4" in out
    assert scripted_llm.paths == ["/v1/messages"]


def test_plan_exits_one_with_a_clear_message_when_no_valid_plan_can_be_made(
    scripted_llm: ScriptedLLM,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OMNIHUB_PLANNER_REPAIR_ATTEMPTS", "1")
    bad = {"reasoning": "", "steps": [{"id": "s1", "tool": "nope", "args": {}, "depends_on": []}]}
    scripted_llm.script(*[Reply(body=openai_content(json.dumps(bad)))] * 2)
    code = _run(
        monkeypatch,
        "plan",
        "Do the impossible",
        "--planner",
        "openai",
        "--base-url",
        scripted_llm.base_url + "/v1",
        "--model",
        "m",
        "--json",
    )
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no valid plan after 2 attempt(s)" in captured.err
    assert "unknown tool 'nope'" in captured.err


def test_usage_rejects_a_bad_date(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, "usage", "--since", "last tuesday") == 1
    assert "is not a date" in capsys.readouterr().err
