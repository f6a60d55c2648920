"""``omnihub up`` (the whole stack) and ``run`` / ``status`` / ``approve`` / ``cancel`` (goals).

The goal commands talk to the running stack's Temporal and read the event store directly: the
command line is the operator's own machine, so it needs no API key. They leave with
``os._exit`` like the other Temporal commands (temporalio/sdk-python#300).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import time
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from omnihub.cli._app import app, state
from omnihub.cli._saga import _leave
from omnihub.config import Settings
from omnihub.errors import ConfigurationError, NotFoundError
from omnihub.events import GoalState, project_goal

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

Tenant = Annotated[str | None, typer.Option(help="Tenant of the goal (default: settings).")]


@app.command()
def up(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="API address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default 8700).")] = None,
    example: Annotated[
        bool,
        typer.Option(
            "--example",
            help="Also run the example set: its tools, playbooks and tables (created if missing).",
        ),
    ] = False,
) -> None:
    """Start the whole embedded stack: Temporal dev server, a worker and the API.

    Data lives under OMNIHUB_HOME. Ctrl-C or SIGTERM stops everything, leaving nothing running.
    Create an API key first with `omnihub keys create`.
    """
    from omnihub.api import StackInfo, run_stack

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


async def _sagas(settings: Settings) -> Any:
    """A saga client for the running stack; a clear error when none is running."""
    from omnihub.saga import SagaClient, TemporalSupervisor, connect_temporal
    from omnihub.servers import port_open

    if not settings.temporal_address:
        address = TemporalSupervisor(settings.home / "temporal").address
        host, _, port = (address or ":0").rpartition(":")
        if not address or not port_open(host, int(port)):
            raise ConfigurationError(
                f"no OmniHub stack is running for {settings.home}: start one with `omnihub up`"
            )
    return SagaClient.from_settings(await connect_temporal(settings), settings)


def _state(settings: Settings, tenant: str, goal_id: str) -> GoalState:
    from omnihub.events import open_event_store

    with open_event_store(settings.resolved_event_store_url) as store:
        events = store.read_stream(tenant, goal_id)
    if not events:
        raise NotFoundError(f"goal {goal_id!r} of tenant {tenant!r} has no events (yet)")
    return project_goal(events)


def render(state: GoalState) -> Group:
    """A goal's state as a header line and a table of its steps."""
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
    from omnihub.events import new_event_id

    settings = state(ctx).settings
    who = tenant or settings.tenant_id
    console = Console()

    async def main() -> GoalState:
        sagas = await _sagas(settings)
        goal_id = await sagas.start(
            goal, goal_id=new_event_id(), tenant_id=who, user_id=getpass.getuser()
        )
        console.print(f"submitted goal {goal_id}", highlight=False)
        deadline = time.monotonic() + timeout
        current: GoalState | None = None
        with Live(console=console, refresh_per_second=8, transient=False) as live:
            while time.monotonic() < deadline:
                try:
                    current = await asyncio.to_thread(_state, settings, who, goal_id)
                except NotFoundError:
                    live.update(Text("waiting for a worker to pick the goal up…"))
                else:
                    live.update(render(current))
                    if current.status in _FINAL:
                        return current
                await asyncio.sleep(0.2)
        raise typer.Exit(_timeout(console, goal_id))

    final = asyncio.run(main())
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
    settings = state(ctx).settings
    current = _state(settings, tenant or settings.tenant_id, goal_id)
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
    from omnihub.saga import ApprovalDecision

    settings = state(ctx).settings
    decision = ApprovalDecision(
        step_id=step_id, approved=not reject, decided_by=f"cli:{getpass.getuser()}", reason=reason
    )

    async def main() -> None:
        sagas = await _sagas(settings)
        await sagas.decide(goal_id, decision, tenant or settings.tenant_id)

    asyncio.run(main())
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
    from omnihub.saga import ControlRequest

    settings = state(ctx).settings

    async def main() -> None:
        sagas = await _sagas(settings)
        request = ControlRequest(by=f"cli:{getpass.getuser()}", reason=reason)
        await sagas.cancel(goal_id, request, tenant or settings.tenant_id)

    asyncio.run(main())
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

    from omnihub.scenario import render_report, run_scenario, scenario_settings

    # Declined cards are part of the story: keep the worker's failure tracebacks off screen.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    console = Console(width=max(Console().width, 140))
    with tempfile.TemporaryDirectory(prefix="omnihub-scenario-") as scratch:
        settings = scenario_settings(Path(home) if home else Path(scratch))
        report = asyncio.run(run_scenario(settings, console))
        render_report(report, console)
    _leave(0 if report.audit_ok else 1)
