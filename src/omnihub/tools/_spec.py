"""What a tool is: its models, policies and compensation, and the ``@tool`` decorator."""

from __future__ import annotations

import hashlib
import hmac
import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from omnihub.errors import ConfigurationError, ToolError

if TYPE_CHECKING:
    from omnihub.tools._resources import ToolResources

ToolFunc = Callable[[Any, "ToolContext"], Awaitable[Any]]


class RiskLane(StrEnum):
    """How much harm a wrong call can do: green acts freely, yellow is watched, red is gated."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True)
class RetrySpec:
    """Retries of a tool call: exponential backoff (with jitter added per attempt by the saga),
    a maximum number of attempts, and error type names that are never retried."""

    initial_interval_s: float = 1.0
    backoff: float = 2.0
    max_interval_s: float = 60.0
    max_attempts: int = 5
    non_retryable_error_types: tuple[str, ...] = ()

    def delay_s(self, attempt: int) -> float:
        """The backoff before attempt ``attempt + 1`` (without jitter)."""
        return float(
            min(self.max_interval_s, self.initial_interval_s * self.backoff ** (attempt - 1))
        )


@dataclass(frozen=True)
class Compensation:
    """The tool that undoes a tool, and how its arguments come from the step.

    ``args`` maps each argument of the compensating tool to a path into the undone step's
    ``input`` or ``output``, for example ``{"table": "input.table", "id": "output.record_id"}``.
    """

    tool: str
    args: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, path in self.args.items():
            head = path.split(".", 1)[0]
            if head not in ("input", "output") or "." not in path:
                raise ConfigurationError(
                    f"compensation argument {name!r}: path {path!r} must start with "
                    "'input.' or 'output.'"
                )

    def resolve(self, input_: Mapping[str, Any], output: Mapping[str, Any]) -> dict[str, Any]:
        """The compensating tool's arguments for one step's input and output."""
        roots = {"input": input_, "output": output}
        resolved: dict[str, Any] = {}
        for name, path in self.args.items():
            head, *rest = path.split(".")
            value: Any = roots[head]
            for part in rest:
                if not isinstance(value, Mapping) or part not in value:
                    raise ToolError(
                        f"compensation {self.tool!r}: {path!r} is missing from the step",
                        non_retryable=True,
                    )
                value = value[part]
            resolved[name] = value
        return resolved

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": dict(self.args)}


@dataclass(frozen=True)
class ToolContext:
    """What a running tool knows about its call and may use.

    ``idempotency_key`` is derived from (tenant, goal, step) and is the same on every retry
    and after a worker crash; it keys OmniHub's own ledger. Tools send ``external_key`` to
    receivers that can deduplicate: just as stable, but it reveals no tenant or goal id.
    """

    tenant_id: str
    goal_id: str
    step_id: str
    idempotency_key: str
    attempt: int
    resources: ToolResources
    heartbeat: Callable[..., None] = field(default=lambda *_: None)

    @property
    def external_key(self) -> str:
        """An opaque idempotency key for third parties: an HMAC-SHA256 of the step's key
        under the workers' secret, so nobody outside can tell tenants or goals from it."""
        digest = hmac.new(
            self.resources.key_secret, self.idempotency_key.encode(), hashlib.sha256
        ).hexdigest()
        return digest[:40]


@dataclass(frozen=True)
class ToolSpec:
    """A registered tool: a coroutine from an input model to an output model, plus policy.

    While a tool runs, the saga heartbeats for it every third of ``heartbeat_timeout_s``, so
    a worker that dies is noticed (and the step retried elsewhere) within that timeout; a
    tool that blocks its event loop for longer must move the work to a thread.
    """

    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    func: ToolFunc
    side_effect: bool = False
    risk: RiskLane = RiskLane.GREEN
    requires_approval: bool = False
    retry: RetrySpec = field(default_factory=RetrySpec)
    start_to_close_timeout_s: float = 30.0
    heartbeat_timeout_s: float | None = 3.0
    compensation: Compensation | None = None

    def catalog_entry(self) -> dict[str, Any]:
        """The JSON-ready description the planner sees."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_model.model_json_schema(),
            "output_schema": self.output_model.model_json_schema(),
            "side_effect": self.side_effect,
            "risk": self.risk.value,
            "requires_approval": self.requires_approval,
            "compensation": self.compensation.to_json() if self.compensation else None,
        }


def _models_of(func: ToolFunc) -> tuple[type[BaseModel], type[BaseModel]]:
    hints = typing.get_type_hints(func)
    params = list(inspect.signature(func).parameters)
    if not params:
        raise ConfigurationError(f"tool {func.__name__!r} must take its input model first")
    input_model = hints.get(params[0])
    output_model = hints.get("return")
    for what, model in (("input", input_model), ("output", output_model)):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigurationError(
                f"tool {func.__name__!r}: the {what} must be annotated with a Pydantic model"
            )
    return input_model, output_model  # type: ignore[return-value]


def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    side_effect: bool = False,
    risk: RiskLane | str = RiskLane.GREEN,
    requires_approval: bool = False,
    retry: RetrySpec | None = None,
    start_to_close_timeout_s: float = 30.0,
    heartbeat_timeout_s: float | None = 3.0,
    compensation: Compensation | None = None,
) -> Callable[[ToolFunc], ToolSpec]:
    """Turn ``async def f(args: In, ctx: ToolContext) -> Out`` into a :class:`ToolSpec`.

    The input and output models come from the annotations; the description defaults to the
    docstring. Register the result with :meth:`ToolRegistry.register` (or use
    :meth:`ToolRegistry.tool`, which does both).
    """

    def decorate(func: ToolFunc) -> ToolSpec:
        if not inspect.iscoroutinefunction(func):
            raise ConfigurationError(f"tool {func.__name__!r} must be an async function")
        input_model, output_model = _models_of(func)
        return ToolSpec(
            name=name or func.__name__,
            description=description or inspect.cleandoc(func.__doc__ or "").split("\n\n")[0],
            input_model=input_model,
            output_model=output_model,
            func=func,
            side_effect=side_effect,
            risk=RiskLane(risk),
            requires_approval=requires_approval,
            retry=retry or RetrySpec(),
            start_to_close_timeout_s=start_to_close_timeout_s,
            heartbeat_timeout_s=heartbeat_timeout_s,
            compensation=compensation,
        )

    return decorate
