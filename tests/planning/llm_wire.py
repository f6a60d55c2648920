"""Scripted LLM endpoints on loopback that speak the OpenAI and Anthropic wire protocols.

They are real HTTP servers: the planner's real client code talks to them over a socket. Each
test scripts the replies (a good plan, malformed JSON, a refusal, 429, 500, a slow reply…) and
reads back the requests the client sent.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted HTTP reply."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class ScriptedLLM:
    """A loopback server answering POSTs with scripted replies, recording each request."""

    server: ThreadingHTTPServer
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)


def handler_for(state: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(body)
            state.paths.append(self.path)
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            reply = state.replies.popleft() if state.replies else Reply(500, {"error": "empty"})
            if reply.delay_s:
                time.sleep(reply.delay_s)
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up, which is what a timeout test wants

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# Wire-format builders -----------------------------------------------------------------------


def openai_content(
    content: str | None,
    *,
    refusal: str | None = None,
    tokens: tuple[int, int] = (100, 20),
    finish: str = "stop",
    model: str = "gpt-4o-mini",
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": sum(tokens),
        },
    }


def openai_tool_call(
    arguments: str, *, tokens: tuple[int, int] = (120, 30), model: str = "gpt-4o-mini"
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_abc",
                            "type": "function",
                            "function": {"name": "submit_plan", "arguments": arguments},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": sum(tokens),
        },
    }


def anthropic_tool_use(
    plan: dict[str, Any] | str,
    *,
    tokens: tuple[int, int] = (150, 40),
    model: str = "claude-sonnet-4-20250514",
) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            {"type": "text", "text": "Here is the plan."},
            {"type": "tool_use", "id": "toolu_1", "name": "submit_plan", "input": plan},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
    }


def anthropic_text(
    text: str,
    *,
    stop_reason: str = "end_turn",
    tokens: tuple[int, int] = (150, 10),
    model: str = "claude-sonnet-4-20250514",
) -> dict[str, Any]:
    return {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
    }
