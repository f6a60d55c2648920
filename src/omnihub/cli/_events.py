"""CLI of the event store: ``schema export``, ``audit verify|export``, ``events show``, and
``bench events``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from omnihub.cli._app import app, bench_app, state
from omnihub.errors import NotFoundError

if TYPE_CHECKING:
    from omnihub.events import EventEnvelope, EventStore

schema_app = typer.Typer(help="JSON Schema of the canonical data model.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Verify and export the tamper-evident event log.", no_args_is_help=True
)
events_app = typer.Typer(help="Inspect stored events.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(audit_app, name="audit")
app.add_typer(events_app, name="events")

DEFAULT_SCHEMA_PATH = Path("schemas/cdm.schema.json")

StoreUrl = Annotated[
    str | None,
    typer.Option("--store-url", help="Event store URL (default: OMNIHUB_EVENT_STORE_URL)."),
]
Tenant = Annotated[
    str | None, typer.Option("--tenant", help="Tenant (default: every tenant for audits).")
]


@contextmanager
def _open(ctx: typer.Context, store_url: str | None) -> Iterator[EventStore]:
    from omnihub.events import open_event_store

    settings = state(ctx).settings
    url = store_url or settings.resolved_event_store_url
    with open_event_store(url, max_payload_bytes=settings.max_payload_bytes) as store:
        yield store


@schema_app.command("export")
def schema_export(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the JSON Schema.")
    ] = DEFAULT_SCHEMA_PATH,
) -> None:
    """Write the JSON Schema of every CDM event (commit it under schemas/)."""
    from omnihub.events import cdm_schema_text

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(cdm_schema_text(), encoding="utf-8")
    typer.echo(f"wrote {output}")


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    store_url: StoreUrl = None,
    tenant: Tenant = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=1,
            help="Split each long scan across this many processes, where the store allows "
            "it (SQLite) (default: one per CPU).",
        ),
    ] = None,
) -> None:
    """Recompute every hash chain; exit 0 when intact, 1 naming the first broken event."""
    from omnihub.events import verify_store

    with _open(ctx, store_url) as store:
        report = verify_store(store, tenant, processes=processes or os.cpu_count() or 1)
    if report.first_break is not None:
        from rich.console import Console

        Console(stderr=True).print(
            f"[bold red]chain broken[/] at {report.first_break} "
            f"({report.broken_streams} of {report.streams} streams broken)",
            highlight=False,
        )
        raise typer.Exit(1)
    typer.echo(f"ok: {report.events} events in {report.streams} streams, every chain intact")


class ExportFormat(StrEnum):
    jsonl = "jsonl"


@audit_app.command("export")
def audit_export(
    ctx: typer.Context,
    format: Annotated[
        ExportFormat, typer.Option("--format", help="Output format.")
    ] = ExportFormat.jsonl,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    store_url: StoreUrl = None,
    tenant: Tenant = None,
) -> None:
    """Stream events as canonical JSON lines (each with its hash, verifiable on its own)."""
    from omnihub.events import export_jsonl

    with _open(ctx, store_url) as store:
        if output is None:
            for line in export_jsonl(store, tenant):
                sys.stdout.write(line + "\n")
            sys.stdout.flush()
            return
        tmp = output.with_name(output.name + ".partial")
        with tmp.open("w", encoding="utf-8") as handle:
            for line in export_jsonl(store, tenant):
                handle.write(line + "\n")
        tmp.replace(output)


def _summary(event: EventEnvelope) -> str:
    data = event.payload.model_dump(mode="json")
    text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in data.items())
    return text if len(text) <= 90 else text[:87] + "..."


@events_app.command("show")
def events_show(
    ctx: typer.Context,
    goal_id: Annotated[str, typer.Argument(help="The goal (stream) id.")],
    store_url: StoreUrl = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Tenant (default: OMNIHUB_TENANT_ID).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the folded GoalState as JSON.")
    ] = False,
) -> None:
    """Print a goal's timeline and its folded state."""
    from rich.console import Console
    from rich.table import Table

    from omnihub.events import project_goal

    tenant_id = tenant or state(ctx).settings.tenant_id
    with _open(ctx, store_url) as store:
        events = store.read_stream(tenant_id, goal_id)
    if not events:
        raise NotFoundError(f"goal {goal_id!r} has no events for tenant {tenant_id!r}")
    goal = project_goal(events)
    if as_json:
        typer.echo(goal.to_json())
        return
    table = Table(title=f"goal {goal_id} · tenant {tenant_id}", title_justify="left")
    for column in ("v", "occurred at (UTC)", "event", "details"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(
            str(event.stream_version),
            event.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            event.event_type,
            _summary(event),
        )
    console = Console()
    console.print(table)
    console.print(
        f"status [bold]{goal.status}[/] · {goal.event_count} events · "
        f"chain head {events[-1].hash[:16]}…",
        highlight=False,
    )


@bench_app.command("events")
def bench_events(
    backend: Annotated[str, typer.Option("--backend", help="sqlite or postgres.")] = "sqlite",
    events: Annotated[int, typer.Option("--events", help="Events to append.")] = 100_000,
    writers: Annotated[int, typer.Option("--writers", help="Concurrent writer threads.")] = 4,
    batch: Annotated[int, typer.Option("--batch", help="Events per append call.")] = 4,
    store_url: Annotated[
        str | None,
        typer.Option(
            "--store-url",
            help="Benchmark on this (empty) database; default: a temporary SQLite file or "
            "an embedded PostgreSQL.",
        ),
    ] = None,
    compare: Annotated[
        str | None, typer.Option("--compare", help="Also run a peer library: eventsourcing.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Append, read, replay and verify throughput of the event store."""
    from rich.console import Console
    from rich.table import Table

    from omnihub.bench import BenchConfig, run_events_benchmark

    result = run_events_benchmark(
        BenchConfig(backend, events, writers, batch, store_url=store_url, compare=compare)
    )
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"event store benchmark ({backend})", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    Console().print(table)
