"""``omnihub plan`` (turn a goal into a validated plan) and ``omnihub usage`` (the ledger)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import typer

from omnihub.cli._app import app, bench_app, state
from omnihub.errors import ValidationError


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(
            f"--since {value!r} is not a date: use YYYY-MM-DD or an ISO 8601 time"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("plan")
def plan_command(
    ctx: typer.Context,
    goal: Annotated[str, typer.Argument(help="What the agent should achieve.")],
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: settings).")] = None,
    planner: Annotated[
        Literal["openai", "anthropic", "playbook"] | None,
        typer.Option(help="Planner to use (default: settings; auto picks one)."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="LLM API base URL (OMNIHUB_LLM_BASE_URL).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="LLM model (OMNIHUB_LLM_MODEL).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Turn GOAL into a validated plan: plan cache first, then the configured planner."""
    from omnihub.planning import PlanRequest, build_planning_service
    from omnihub.tools import default_registry

    settings = state(ctx).settings
    service = build_planning_service(
        settings, default_registry(), kind=planner, base_url=base_url, model=model
    )

    async def run() -> dict[str, Any]:
        try:
            request = PlanRequest(goal=goal, tenant=tenant or settings.tenant_id)
            outcome = await service.plan_goal(request)
            return outcome.cli_json()
        finally:
            await service.aclose()

    _print_plan(asyncio.run(run()), as_json=as_json)


def _print_plan(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"plan ({result['source']})")
    for column in ("id", "tool", "args", "depends on"):
        table.add_column(column)
    for step in result["plan"]:
        table.add_row(
            step["id"], step["tool"], json.dumps(step["args"]), ", ".join(step["depends_on"])
        )
    out = Console()
    out.print(table)
    out.print(f"usage: {json.dumps(result['usage'])}", highlight=False)


@app.command("usage")
def usage_command(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: settings).")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only usage from this date (YYYY-MM-DD, UTC) on.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
) -> None:
    """LLM calls, tokens, cost and cache savings of a tenant, per day and model."""
    from omnihub.planning import open_ledger

    settings = state(ctx).settings
    who = tenant or settings.tenant_id
    start = _parse_since(since)
    ledger = open_ledger(settings.resolved_event_store_url)
    try:
        rows = ledger.summary(who, start)
    finally:
        ledger.close()
    if as_json:
        typer.echo(json.dumps([row.__dict__ for row in rows]))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"LLM usage of tenant {who}")
    for column in (
        "day",
        "model",
        "calls",
        "prompt tok",
        "completion tok",
        "cost $",
        "cache hits",
        "saved tok",
        "saved $",
    ):
        table.add_column(
            column, justify="left" if column in ("day", "model") else "right", overflow="fold"
        )
    for row in rows:
        table.add_row(
            row.day,
            row.model,
            str(row.calls),
            str(row.prompt_tokens),
            str(row.completion_tokens),
            f"{row.cost:.6f}",
            str(row.cache_hits),
            str(row.saved_tokens),
            f"{row.saved_cost:.6f}",
        )
    if rows:
        table.add_section()
        table.add_row(
            "total",
            "",
            str(sum(r.calls for r in rows)),
            str(sum(r.prompt_tokens for r in rows)),
            str(sum(r.completion_tokens for r in rows)),
            f"{sum(r.cost for r in rows):.6f}",
            str(sum(r.cache_hits for r in rows)),
            str(sum(r.saved_tokens for r in rows)),
            f"{sum(r.saved_cost for r in rows):.6f}",
        )
    Console().print(table)


@bench_app.command("planning")
def bench_planning_command(
    goals: Annotated[int, typer.Option(min=1, help="Goals to plan.")] = 300,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    llm: Annotated[
        str | None,
        typer.Option(
            "--llm",
            help="'scripted': replay realistic traffic (repeats, near-repeats, noisy typing, "
            "new intents) against an LLM planner on a scripted loopback endpoint.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the replayed traffic (--llm).")] = 7,
) -> None:
    """Cache-first planning (plan cache, then playbooks) against the playbook planner alone;
    with ``--llm scripted``, LLM calls avoided, tokens and cost saved, and wrong plans served."""
    from omnihub.bench import run_planning_benchmark, run_planning_replay

    if llm not in (None, "scripted"):
        raise ValidationError(f"--llm takes 'scripted', not {llm!r}")
    if llm == "scripted":
        result = asyncio.run(run_planning_replay(goals, seed=seed))
    else:
        result = asyncio.run(run_planning_benchmark(goals))
    typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))


@bench_app.command("planning-memory")
def bench_planning_memory_command(
    goals: Annotated[int, typer.Option(min=1, help="Goals to plan.")] = 10_000,
) -> None:
    """Heap of the saga plan provider over many goals (bounded vs unbounded), as JSON."""
    from omnihub.bench import run_planning_memory_benchmark

    typer.echo(json.dumps(asyncio.run(run_planning_memory_benchmark(goals))))
