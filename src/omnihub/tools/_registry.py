"""The tool registry: the tools a worker can run and the catalog the planner sees."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydantic import BaseModel, Field

from omnihub.errors import ConfigurationError, ToolNotFoundError
from omnihub.tools._spec import RiskLane, ToolContext, ToolFunc, ToolSpec, tool


class ToolRegistry:
    """Tools by name. Build one per worker; pass stand-ins in by registering them."""

    def __init__(self, specs: Iterable[ToolSpec] = ()) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ToolSpec) -> ToolSpec:
        """Add ``spec``; a second tool with the same name is a configuration error."""
        if spec.name in self._specs:
            raise ConfigurationError(f"a tool named {spec.name!r} is registered already")
        self._specs[spec.name] = spec
        return spec

    def tool(self, **options: Any) -> Callable[[ToolFunc], ToolSpec]:
        """Like :func:`omnihub.tools.tool`, and register the result here."""
        decorate = tool(**options)
        return lambda func: self.register(decorate(func))

    def get(self, name: str) -> ToolSpec:
        """The tool called ``name``; raises ToolNotFoundError."""
        try:
            return self._specs[name]
        except KeyError:
            raise ToolNotFoundError(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(sorted(self._specs.values(), key=lambda spec: spec.name))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def catalog(self) -> list[dict[str, Any]]:
        """JSON-ready entries (name, description, schemas, side effect, risk, approval,
        compensation) for every tool, sorted by name."""
        return [spec.catalog_entry() for spec in self]


class RespondInput(BaseModel):
    message: str = Field(description="The answer shown to the user.")


class RespondOutput(BaseModel):
    message: str


@tool(name="respond_to_user", risk=RiskLane.GREEN)
async def respond_to_user(args: RespondInput, ctx: ToolContext) -> RespondOutput:
    """Give the user an answer; the goal's result shows it."""
    return RespondOutput(message=args.message)


def builtin_tools() -> list[ToolSpec]:
    """The tools every worker has: database, HTTP, email and the answer to the user."""
    from omnihub.tools._database import database_delete, database_query, database_write
    from omnihub.tools._email import send_email
    from omnihub.tools._http import http_request

    return [
        database_delete,
        database_query,
        database_write,
        http_request,
        respond_to_user,
        send_email,
    ]


def default_registry(extra: Iterable[ToolSpec] = ()) -> ToolRegistry:
    """A new registry with the built-in tools and ``extra`` ones."""
    return ToolRegistry([*builtin_tools(), *extra])
