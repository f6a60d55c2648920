"""Values shared by the planners: usage, model completions and conversation turns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

PlanSource = Literal["llm", "cache", "playbook"]

#: The name of the single tool a model calls (tool-calling mode) to hand in its plan.
SUBMIT_PLAN_TOOL = "submit_plan"

#: The JSON Schema of the one object the model is asked for.
PLAN_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "description": "Why these steps reach the goal."},
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "Unique step id, e.g. s1."},
                    "tool": {"type": "string", "description": "A tool name from the catalog."},
                    "args": {
                        "type": "object",
                        "description": "Arguments matching the tool's input schema.",
                    },
                    "depends_on": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Ids of steps that must finish first.",
                    },
                },
                "required": ["id", "tool", "args", "depends_on"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["reasoning", "steps"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of planning one goal (summed over its LLM calls)."""

    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": round(self.cost, 8),
        }


@dataclass(frozen=True)
class Completion:
    """One model reply that should hold a plan.

    ``payload`` is the plan as the model gave it: text (message content) or an already-decoded
    object (tool-call input). ``call_id`` is set when the plan came as a tool call, so a repair
    turn can answer that call. ``assistant`` is the reply in the provider's wire format, replayed
    in the conversation of a repair turn.
    """

    payload: str | dict[str, Any]
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    call_id: str | None = None
    assistant: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UserTurn:
    """The opening user message (goal and context, already delimited as untrusted data)."""

    text: str


@dataclass(frozen=True)
class AssistantTurn:
    """A previous model reply, replayed so the repair turn can refer to it."""

    completion: Completion


@dataclass(frozen=True)
class RepairTurn:
    """Feedback on the previous reply: what was wrong with the plan."""

    text: str


Turn = UserTurn | AssistantTurn | RepairTurn


class ModelClient(Protocol):
    """A chat model that answers a planning conversation with a plan-shaped reply.

    Raises ProviderError subclasses for transport and HTTP failures and PlanRefusedError when
    the model refuses.
    """

    provider: str
    model: str

    async def complete(self, system: str, turns: Sequence[Turn]) -> Completion: ...

    async def aclose(self) -> None: ...
