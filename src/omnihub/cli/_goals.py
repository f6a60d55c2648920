"""``omnihub up`` (the whole stack) and ``run`` / ``status`` / ``approve`` / ``cancel`` (goals).

The goal commands use the goal service of the running stack (built by :mod:`omnihub.runtime`
from the settings): the command line is the operator's own machine, so it needs no API key.
They leave with ``os._exit`` like the other Temporal commands (temporalio/sdk-python#300).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from omnihub.cli._app import app, state
from omnihub.cli._saga import ExampleFlag, _leave
from omnihub.errors import NotFoundError

if TYPE_CHECKING:
    from rich.console import Console, Group

    from omnihub.config import Settings
    from omnihub.events import GoalState
    from omnihub.goals import GoalService

_STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "awaiting_approval": "yellow",
    "approved": "green",
    "failed": "red",
    "rejected": "red",
    "cancelled": "red",
    "compensated": "magenta",
    "compensation_failed": "bold red",
    "paused": "yellow",
}
_FINAL = {"completed", "failed", "cancelled"}
_T = TypeVar("_T")

Tenant = Annotated[str | None, typer.Option(help="Tenant of the goal (default: settings).")]


@app.command()
def up(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="API address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default 8700).")] = None,
    example: ExampleFlag = False,
) -> None:
    """Start the whole embedded stack: Temporal dev server, a worker and the API.

    Data lives under OMNIHUB_HOME. Ctrl-C or SIGTERM stops everything, leaving nothing running.
    Create an API key first with `omnihub keys create`.
    """
    from rich.console import Console

    from omnihub.api import run_stack
    from omnihub.runtime import StackInfo

    settings = state(ctx).settings
    registry = None
    if example:
        from omnihub.examples import prepare_examples

        examples = prepare_examples(settings)
        settings, registry = examples.settings, examples.registry
    console = Console()

    def ready(info: StackInfo) -> None:
        console.print(
            f"[bold green]OmniHub is up[/]\n"
            f"  API       {info.api_url}  (docs: {info.api_url}/docs)\n"
            f"  Temporal  {info.temporal_address}  (task queue {info.task_queue!r})\n"
            f"  data      {settings.home}\n"
            "Press Ctrl-C to stop.",
            highlight=False,
        )
        console.file.flush()

    asyncio.run(run_stack(settings, host=host, port=port, registry=registry, on_ready=ready))
    console.print("OmniHub stopped.")
    _leave(0)


async def _with_goals(
    settings: Settings, action: Callable[[GoalService], Awaitable[_T]], *, temporal: bool = True
) -> _T:
    """Run ``action`` with the running stack's goal service (``temporal=False``: read only,
    from the event store); a clear error when no stack is running."""
    from omnihub.runtime import goals_of, running_services

    async with running_services(settings, start_temporal=False, temporal=temporal) as services:
        return await action(goals_of(services))


def render(state: GoalState) -> Group:
    """A goal's state as a header line and a table of its steps."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    style = _STATUS_STYLE.get(state.status, "white")
    header = Text.assemble(
        ("goal ", "bold"),
        (state.goal_id, "bold"),
        "  ",
        (state.status, f"bold {style}"),
        f"  plan: {state.plan_source or '-'}",
    )
    table = Table("step", "tool", "status", "attempts", "ms", expand=False)
    for step in state.steps:
        table.add_row(
            step.step_id,
            step.tool_name or "",
            Text(step.status, style=_STATUS_STYLE.get(step.status, "white")),
            str(step.attempts),
            f"{step.duration_ms:.0f}",
        )
    parts: list[Any] = [header, Text(state.goal or ""), table]
    if state.compensations:
        undo = Table("compensated step", "tool", "status", title="compensations (in order)")
        for record in state.compensations:
            undo.add_row(record.step_id, record.tool_name, record.status)
        parts.append(undo)
    return Group(*parts)


def _outcome(state: GoalState) -> str:
    if state.status == "completed":
        result = state.result
        if isinstance(result, dict) and result.get("answer"):
            return str(result["answer"])
        return json.dumps(result)
    return f"{state.status}: {state.error or 'no reason recorded'}"


@app.command()
def run(
    ctx: typer.Context,
    goal: Annotated[str, typer.Argument(help="What the agent should achieve, in words.")],
    tenant: Tenant = None,
    timeout: Annotated[float, typer.Option(help="Give up following after SECONDS.")] = 600.0,
) -> None:
    """Submit GOAL to the running stack and follow it live, then print the result.

    Exits 0 when the goal completed, 1 when it failed or was cancelled.
    """
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from omnihub.goals import GoalRequest

    settings = state(ctx).settings
    who = tenant or settings.tenant_id
    console = Console()

    async def follow(goals: GoalService) -> GoalState:
        request = GoalRequest(goal=goal, user_id=getpass.getuser())
        goal_id = (await goals.submit(who, request)).goal_id
        console.print(f"submitted goal {goal_id}", highlight=False)
        deadline = time.monotonic() + timeout
        current: GoalState | None = None
        with Live(console=console, refresh_per_second=8, transient=False) as live:
            while time.monotonic() < deadline:
                try:
                    current = await goals.state(who, goal_id)
                except NotFoundError:
                    live.update(Text("waiting for a worker to pick the goal up…"))
                else:
                    live.update(render(current))
                    if current.status in _FINAL:
                        return current
                await asyncio.sleep(0.2)
        raise typer.Exit(_timeout(console, goal_id))

    final = asyncio.run(_with_goals(settings, follow))
    style = "green" if final.status == "completed" else "red"
    console.print(Text(_outcome(final), style=f"bold {style}"))
    _leave(0 if final.status == "completed" else 1)


def _timeout(console: Console, goal_id: str) -> int:
    console.print(f"still running; follow it with `omnihub status {goal_id}`")
    return 2


@app.command()
def status(
    ctx: typer.Context,
    goal_id: Annotated[str, typer.Argument(help="The goal's id.")],
    tenant: Tenant = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the GoalState as JSON.")] = False,
) -> None:
    """Show a goal's state (folded from its events): status, steps, compensations, result."""
    from rich.console import Console

    settings = state(ctx).settings
    who = tenant or settings.tenant_id
    current = asyncio.run(
        _with_goals(settings, lambda goals: goals.state(who, goal_id), temporal=False)
    )
    if as_json:
        typer.echo(current.to_json())
        return
    console = Console()
    console.print(render(current))
    if current.status in _FINAL:
        console.print(_outcome(current), highlight=False)


@app.command()
def approve(
    ctx: typer.Context,
    goal_id: Annotated[str, typer.Argument(help="The goal's id.")],
    step_id: Annotated[str, typer.Argument(help="The step waiting for approval.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (recorded in the event).")] = None,
    tenant: Tenant = None,
) -> None:
    """Approve (or, with --reject, reject) a step waiting for approval; returns once the
    workflow has taken the decision."""
    from omnihub.goals import GoalDecision

    settings = state(ctx).settings
    decision = GoalDecision(decision="reject" if reject else "approve", reason=reason)
    who, actor = tenant or settings.tenant_id, f"cli:{getpass.getuser()}"
    asyncio.run(
        _with_goals(settings, lambda goals: goals.decide(who, goal_id, step_id, decision, actor))
    )
    typer.echo(f"{'rejected' if reject else 'approved'} step {step_id} of goal {goal_id}")
    _leave(0)


@app.command()
def cancel(
    ctx: typer.Context,
    goal_id: Annotated[str, typer.Argument(help="The goal's id.")],
    reason: Annotated[str | None, typer.Option(help="Why (recorded in the event).")] = None,
    tenant: Tenant = None,
) -> None:
    """Cancel a goal: its completed steps are compensated, last first."""
    settings = state(ctx).settings
    who, actor = tenant or settings.tenant_id, f"cli:{getpass.getuser()}"
    asyncio.run(
        _with_goals(
            settings,
            lambda goals: goals.control(who, goal_id, "cancel", actor=actor, reason=reason),
        )
    )
    typer.echo(f"cancel sent to goal {goal_id}")
    _leave(0)


@app.command()
def scenario(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option(help="Directory for the scenario's data (default: a fresh temporary one)."),
    ] = None,
) -> None:
    """Run the end-to-end scenario (`make demo`): the stack, a small travel-and-payments
    domain, cache hits, a declined card with its compensations, an approval through the API,
    and `audit verify`, then a summary table. Exits 1 if the audit fails."""
    import tempfile
    from pathlib import Path

    from rich.console import Console

    from omnihub.scenario import render_report, run_scenario, scenario_settings

    # Declined cards are part of the story: keep the worker's failure tracebacks off screen.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    console = Console(width=max(Console().width, 140))
    with tempfile.TemporaryDirectory(prefix="omnihub-scenario-") as scratch:
        settings = scenario_settings(Path(home) if home else Path(scratch))
        report = asyncio.run(run_scenario(settings, console))
        render_report(report, console)
    _leave(0 if report.audit_ok else 1)
