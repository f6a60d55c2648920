"""``omnihub bench planning --llm scripted``: cache-first planning against an LLM planner on a
replay of realistic traffic.

The traffic mixes what people send: exact repeats of earlier requests, near-repeats (same
intent, new values), near-repeats typed carelessly (a greeting, "pls", "thanks!", lower case, a
transposed letter, a double space, no final full stop) and intents seen for the first time.
The LLM is a scripted OpenAI-compatible endpoint on loopback: the real client code talks to it
over HTTP and it answers each goal with the correct plan (the playbook planner's plan for the
clean wording), with token counts in proportion to the request and reply sizes. Every cache hit
is compared with that correct plan: a hit that differs is a wrong plan served.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from omnihub.bench._planning import _CITIES, _EMAILS, _TEMPLATES, cached_planning
from omnihub.embeddings import Embedder, open_embedder
from omnihub.planning import (
    LLMPlanner,
    OpenAIChatClient,
    PlanRequest,
    PlaybookPlanner,
    default_playbooks,
)
from omnihub.plans import Plan
from omnihub.tools import default_registry

MODEL = "gpt-4o-mini"
_INTENTS = _TEMPLATES  # the six demo intents, shared with the playbook bench
_GREETINGS = ["hi", "hey,", "hello there", "good morning,"]
_BEFORE = ["please", "pls", "could you", "can you please"]
_AFTER = ["thanks!", "asap", "thank you", "cheers"]
#: Share of each kind of request after the first few (the rest are near-repeats).
_MIX = {"repeat": 0.35, "noisy": 0.2, "new_intent": 0.05}


@dataclass(frozen=True)
class Request:
    text: str
    clean: str
    kind: str  # first | repeat | near_repeat | noisy | new_intent


def _fill(template: str, rng: random.Random) -> str:
    day = rng.randint(1, 20)
    return template.format(
        a=rng.choice(_CITIES),
        b=rng.choice(_CITIES),
        day=day,
        day2=day + rng.randint(1, 5),
        n=rng.randint(10, 9999),
        email=rng.choice(_EMAILS),
    )


def _noisy(text: str, rng: random.Random) -> str:
    """The same request typed carelessly; entity values (cities, emails, ids) keep their
    spelling, ordinary words may get one transposed letter."""
    words = text.rstrip(".").split(" ")
    ordinary = [
        i for i, w in enumerate(words) if w.isalpha() and w.islower() and len(w) >= 4 and i > 0
    ]
    if ordinary and rng.random() < 0.5:
        i = rng.choice(ordinary)
        w = words[i]
        j = rng.randrange(1, len(w) - 2)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    out = " ".join(words)
    if rng.random() < 0.5:
        out = out[0].lower() + out[1:]
    if rng.random() < 0.5:
        out = f"{rng.choice(_BEFORE)} {out[0].lower()}{out[1:]}"
    if rng.random() < 0.5:
        out = f"{rng.choice(_GREETINGS)} {out}"
    if rng.random() < 0.5:
        out = f"{out} {rng.choice(_AFTER)}"
    if rng.random() < 0.3:
        out = out.replace(" ", "  ", 1)
    return out


def replay_traffic(count: int, seed: int = 7) -> list[Request]:
    """``count`` requests: intents appear one after another (each first sighting is a new
    intent), then a mix of repeats, near-repeats and noisy near-repeats."""
    rng = random.Random(seed)
    unseen = list(_INTENTS)
    seen: list[str] = []
    sent: list[str] = []
    out: list[Request] = []
    for _ in range(count):
        draw = rng.random()
        if unseen and (not seen or draw < _MIX["new_intent"]):
            template = unseen.pop(0)
            seen.append(template)
            clean = _fill(template, rng)
            out.append(Request(clean, clean, "new_intent"))
        elif sent and draw < _MIX["new_intent"] + _MIX["repeat"]:
            clean = rng.choice(sent)
            out.append(Request(clean, clean, "repeat"))
        else:
            clean = _fill(rng.choice(seen), rng)
            noisy = draw > 1 - _MIX["noisy"]
            out.append(
                Request(_noisy(clean, rng) if noisy else clean, clean, "noisy" if noisy else "near")
            )
        sent.append(out[-1].clean)
    return out


class _ScriptedLLM:
    """A loopback OpenAI-compatible endpoint answering with :attr:`answer` (set per goal)."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}
        self.calls = 0
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = self.rfile.read(length)
                state.calls += 1
                content = json.dumps(state.answer)
                # About four characters a token, as for English and JSON.
                tokens = (len(request) // 4, len(content) // 4)
                body = json.dumps(
                    {
                        "id": f"chatcmpl-{state.calls}",
                        "object": "chat.completion",
                        "model": MODEL,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": tokens[0],
                            "completion_tokens": tokens[1],
                            "total_tokens": sum(tokens),
                        },
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> _ScriptedLLM:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


async def _truths(traffic: list[Request], embedder: Embedder) -> dict[str, Plan]:
    """The correct plan of each clean request (the playbook planner's)."""
    registry = default_registry()
    playbooks = PlaybookPlanner(default_playbooks(), registry, embedder)
    truths: dict[str, Plan] = {}
    for request in traffic:
        if request.clean not in truths:
            made = await playbooks.plan(PlanRequest(request.clean, tenant="bench"))
            truths[request.clean] = made.plan
    return truths


async def run_planning_replay(goals: int, *, seed: int = 7) -> dict[str, Any]:
    """Replay ``goals`` requests through cache-first planning with the scripted LLM."""
    traffic = replay_traffic(goals, seed)
    embedder = open_embedder("onnx")
    truths = await _truths(traffic, embedder)
    registry = default_registry()
    by_kind: dict[str, Counter[str]] = {}
    spent_tokens = saved_tokens = 0
    spent_cost = saved_cost = 0.0
    with _ScriptedLLM() as llm, tempfile.TemporaryDirectory() as folder:
        client = OpenAIChatClient(model=MODEL, base_url=llm.base_url, mode="json_schema")
        planner = LLMPlanner(client, registry)
        service = cached_planning(planner, registry, embedder, Path(folder))
        try:
            for request in traffic:
                truth = truths[request.clean]
                llm.answer = truth.model_dump(mode="json")
                outcome = await service.plan_goal(PlanRequest(request.text, tenant="bench"))
                counts = by_kind.setdefault(request.kind, Counter())
                counts["goals"] += 1
                if outcome.source == "cache":
                    counts["hits"] += 1
                    counts["wrong_plans"] += outcome.plan.steps != truth.steps
                    assert outcome.cache is not None
                    saved_tokens += int(outcome.cache["saved_tokens"])
                    saved_cost += float(outcome.cache["saved_cost"])
                else:
                    spent_tokens += outcome.usage.total_tokens
                    spent_cost += outcome.usage.cost
        finally:
            await service.aclose()
    hits = sum(c["hits"] for c in by_kind.values())
    wrong = sum(c["wrong_plans"] for c in by_kind.values())
    return {
        "goals": goals,
        "planner": f"LLM ({MODEL}, scripted endpoint on loopback)",
        "traffic": {kind: c["goals"] for kind, c in sorted(by_kind.items())},
        "llm_calls": llm.calls,
        # Without the cache every goal costs at least one call.
        "llm_calls_avoided": hits,
        "hit_rate": round(hits / goals, 4),
        "wrong_plans_served": wrong,
        "wrong_plan_rate": round(wrong / goals, 5),
        "tokens": {"spent": spent_tokens, "saved": saved_tokens},
        "cost_usd": {"spent": round(spent_cost, 6), "saved": round(saved_cost, 6)},
        "by_kind": {
            kind: {
                "goals": c["goals"],
                "hit_rate": round(c["hits"] / c["goals"], 4),
                "wrong_plans": c["wrong_plans"],
            }
            for kind, c in sorted(by_kind.items())
        },
    }
