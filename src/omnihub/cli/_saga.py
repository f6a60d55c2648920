"""``omnihub worker``, ``omnihub saga …`` (start and steer goals) and ``omnihub bench saga``.

Commands that talk to Temporal leave with ``os._exit`` when this process is the ``omnihub``
command itself (temporalio/sdk-python#300 can abort a finished process at interpreter exit).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from omnihub.cli._app import app, bench_app, state
from omnihub.errors import ConfigurationError, OmniHubError, StoreError, ValidationError

if TYPE_CHECKING:
    from omnihub.config import Settings
    from omnihub.plans import Plan

saga_app = typer.Typer(
    help="Goals as durable sagas: start, inspect and steer them.", no_args_is_help=True
)
app.add_typer(saga_app, name="saga")

_T = TypeVar("_T")

ExampleFlag = Annotated[
    bool,
    typer.Option(
        "--example",
        help="Also run the example set: its tools, playbooks and tables (created if missing).",
    ),
]
"""``--example`` of ``omnihub up`` and ``omnihub worker``: one switch, one meaning."""


def _leave(status: int = 0) -> None:
    """End the command: a hard exit in the real ``omnihub`` process, a normal one otherwise."""
    sys.stdout.flush()
    sys.stderr.flush()
    if Path(sys.argv[0]).name in ("omnihub", "__main__.py"):
        os._exit(status)
    if status:
        raise typer.Exit(status)


def _run(coro: Awaitable[_T]) -> _T:
    async def wrapped() -> _T:
        return await coro

    return asyncio.run(wrapped())


def load_tools(spec: str) -> list[Any]:
    """Tools named by ``module:attribute`` (a list of ToolSpecs or a function returning one)."""
    module_name, _, attribute = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"cannot load tools {spec!r}: {exc}") from exc
    tools = found() if callable(found) else found
    return list(tools)


@app.command()
def worker(
    ctx: typer.Context,
    tools: Annotated[
        list[str] | None,
        typer.Option("--tools", help="Extra tools as module:attribute (repeatable)."),
    ] = None,
    example: ExampleFlag = False,
) -> None:
    """Run a saga worker (task queue and concurrency from the configuration) until stopped.

    Goals started without a plan are planned by the configured planner behind the plan cache.
    With --example, the worker runs the goals of `omnihub up --example` (start every worker of
    a deployment with it, so whichever worker takes a goal knows its tools and playbooks).
    """
    from omnihub.runtime import run_worker
    from omnihub.tools import default_registry

    settings = state(ctx).settings
    extra = [spec for name in tools or [] for spec in load_tools(name)]
    if example:
        from omnihub.examples import example_settings, example_tools

        settings = example_settings(settings)
        extra = [*example_tools(), *extra]
        _create_example_tables(settings)
    registry = default_registry(extra)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready() -> None:
            typer.echo(f"worker ready on task queue {settings.task_queue!r}")
            sys.stdout.flush()

        await run_worker(settings, registry=registry, stop=stop, on_ready=ready)

    _run(main())
    _leave(0)


def _create_example_tables(settings: Settings) -> None:
    """Create the example tables; once more after a moment if that failed, because workers
    started together race on PostgreSQL's CREATE TABLE IF NOT EXISTS (not atomic there)."""
    from omnihub.examples import create_example_tables

    try:
        create_example_tables(settings)
    except StoreError:
        time.sleep(0.5)
        create_example_tables(settings)


def _read_plan(path: Path) -> Plan:
    from pydantic import ValidationError as PydanticValidationError

    from omnihub.plans import Plan

    try:
        return Plan.model_validate_json(path.read_text())
    except OSError as exc:
        raise ValidationError(f"cannot read plan file {path}: {exc}") from exc
    except PydanticValidationError as exc:
        raise ValidationError(f"{path} is not a valid plan: {exc}") from exc


async def _services(ctx: typer.Context) -> Any:
    from omnihub.runtime import open_services

    return await open_services(state(ctx).settings)


def _print(model: Any) -> None:
    typer.echo(json.dumps(model.model_dump(mode="json"), indent=2, sort_keys=True))


def _steer(ctx: typer.Context, action: Callable[[Any], Awaitable[Any]]) -> None:
    """Run ``action`` with the runtime's services (``services.sagas``, ``services.goals``)."""

    async def main() -> Any:
        services = await _services(ctx)
        try:
            return await action(services)
        finally:
            await services.aclose()

    try:
        result = _run(main())
    except OmniHubError as exc:
        typer.echo(f"error: {exc}", err=True)
        _leave(1)
        return
    if result is not None:
        _print(result)
    _leave(0)


@saga_app.command("start")
def saga_start(
    ctx: typer.Context,
    goal: Annotated[str, typer.Argument(help="What the user wants, in words.")],
    plan: Annotated[Path, typer.Option("--plan", help="A plan as JSON (steps, reasoning).")],
    goal_id: Annotated[str | None, typer.Option(help="The goal's id (default: new).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it.")] = False,
) -> None:
    """Start a goal with an explicit plan (until the planner supplies plans)."""
    parsed = _read_plan(plan)

    async def action(services: Any) -> Any:
        from omnihub.goals import GoalRequest

        tenant = state(ctx).settings.tenant_id
        request = GoalRequest(goal=goal, plan=parsed, user_id="cli")
        started = (await services.goals.submit(tenant, request, goal_id=goal_id)).goal_id
        typer.echo(started)
        return await services.sagas.result(started) if wait else None

    _steer(ctx, action)


@saga_app.command("state")
def saga_state(ctx: typer.Context, goal_id: str) -> None:
    """Print a goal's live state (status, steps, compensation stack, pending approvals)."""
    _steer(ctx, lambda services: services.sagas.state(goal_id))


@saga_app.command("decide")
def saga_decide(
    ctx: typer.Context,
    goal_id: str,
    step_id: str,
    approve: Annotated[bool, typer.Option("--approve/--reject", help="The decision.")],
    by: Annotated[str, typer.Option("--by", help="Who decides.")] = "cli",
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
) -> None:
    """Approve or reject a step waiting for a decision."""
    from omnihub.saga import ApprovalDecision

    decision = ApprovalDecision(step_id=step_id, approved=approve, decided_by=by, reason=reason)
    _steer(ctx, lambda services: services.sagas.decide(goal_id, decision))


@saga_app.command("cancel")
def saga_cancel(
    ctx: typer.Context,
    goal_id: str,
    by: Annotated[str, typer.Option("--by")] = "cli",
    reason: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Cancel a goal: running steps end, completed ones are compensated."""
    from omnihub.saga import ControlRequest

    _steer(
        ctx, lambda services: services.sagas.cancel(goal_id, ControlRequest(by=by, reason=reason))
    )


@bench_app.command("saga")
def bench_saga(
    goals: Annotated[int, typer.Option(min=1, help="Goals to run.")] = 100,
    steps: Annotated[int, typer.Option(min=1, help="Steps per goal.")] = 3,
    rate: Annotated[
        float | None, typer.Option(min=0.1, help="Goals started per second (default: all at once).")
    ] = None,
    recovery: Annotated[
        bool, typer.Option("--recovery/--no-recovery", help="Also time worker-kill recovery.")
    ] = True,
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            help="Sweep goal counts, e.g. 100,300,1000: baseline and saga interleaved per size.",
        ),
    ] = None,
    tracing: Annotated[
        bool,
        typer.Option("--tracing", help="Also run the saga with tracing off and on, interleaved."),
    ] = False,
    tracing_pairs: Annotated[
        int, typer.Option(min=1, help="With --tracing: pairs of off/on rounds, each a process.")
    ] = 5,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Run each side on this many worker processes, on PostgreSQL "
            "(no recovery probe, no sweep); default: workers in this process, on SQLite.",
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option("--compare", help="Also run a peer runtime (dbos) and kill each side."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Goals through AgentSaga against bare Temporal with the same activity, same run."""
    from omnihub.bench import parse_sizes, run_saga_benchmark, run_saga_workers_benchmark

    sweep = parse_sizes(sizes) if sizes else ()
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-saga-") as scratch:
        if workers is not None:
            report = _run(
                run_saga_workers_benchmark(goals, steps, workers, Path(scratch), rate=rate)
            )
        else:
            report = _run(
                run_saga_benchmark(
                    goals,
                    steps,
                    rate,
                    Path(scratch),
                    recovery=recovery,
                    sizes=sweep,
                    tracing=tracing,
                    tracing_pairs=tracing_pairs,
                    compare=compare,
                )
            )
    typer.echo(json.dumps(report, sort_keys=True) if as_json else json.dumps(report, indent=2))
    _leave(0)
