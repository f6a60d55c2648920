"""``omnihub demo``: a short walk-through of OmniHub on the embedded defaults.

For now it shows the event store: one goal's events appended to the SQLite store under
``OMNIHUB_HOME``, an activity retry that stores nothing twice, a stale writer refused, the
goal's timeline and folded state, an old event upcast on read, and the hash chains verified.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from omnihub.cli._app import app, state
from omnihub.errors import ConcurrencyError

if TYPE_CHECKING:
    from omnihub.events import NewEvent

TENANT = "demo"


def _goal_events(goal_id: str, start: datetime) -> list[NewEvent]:
    from omnihub.events import (
        GoalCompleted,
        GoalReceived,
        NewEvent,
        PlanGenerated,
        StepCompleted,
        StepStarted,
        ToolExecuted,
        deterministic_event_id,
    )
    from omnihub.plans import PlanStep

    steps = [
        PlanStep(id="find", tool="restaurants.search", args={"city": "Lyon"}),
        PlanStep(id="book", tool="restaurants.book", args={"party": 2}, depends_on=["find"]),
    ]
    payloads = [
        GoalReceived(goal="Book a table for two in Lyon tonight", user_id="alice"),
        PlanGenerated(
            plan_id=f"{goal_id}-plan",
            steps=steps,
            compensations={"book": "restaurants.cancel"},
            source="playbook",
        ),
        StepStarted(step_id="find", tool_name="restaurants.search"),
        ToolExecuted(
            tool_name="restaurants.search",
            step_id="find",
            input={"city": "Lyon"},
            output={"best": "Le Bouchon"},
            duration_ms=84.0,
        ),
        StepCompleted(step_id="find", result={"restaurant": "Le Bouchon"}),
        StepStarted(step_id="book", tool_name="restaurants.book"),
        StepCompleted(step_id="book", result={"confirmation": "LB-2041"}),
        GoalCompleted(result={"confirmation": "LB-2041"}, metrics={"llm_calls": 0}),
    ]
    return [
        NewEvent(
            payload=payload,
            # Deterministic ids and keys, as a Temporal activity would derive them.
            event_id=deterministic_event_id(start + timedelta(seconds=n), goal_id, str(n)),
            idempotency_key=f"{goal_id}:{n}",
            occurred_at=start + timedelta(seconds=n),
        )
        for n, payload in enumerate(payloads)
    ]


@app.command()
def demo(
    ctx: typer.Context,
    store_url: Annotated[
        str | None,
        typer.Option("--store-url", help="Event store URL (default: OMNIHUB_EVENT_STORE_URL)."),
    ] = None,
) -> None:
    """A short walk-through of the event store on the embedded default (SQLite)."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    from omnihub.events import (
        NewEvent,
        ToolExecutedV1,
        open_event_store,
        project_goal,
        verify_store,
    )

    console = Console()
    settings = state(ctx).settings
    url = store_url or settings.resolved_event_store_url
    goal_id = f"goal-{uuid.uuid4().hex[:8]}"
    events = _goal_events(goal_id, datetime.now(UTC).replace(microsecond=0))
    console.print(Panel.fit(f"OmniHub demo · event store at [bold]{url}[/]", style="cyan"))
    with open_event_store(url, max_payload_bytes=settings.max_payload_bytes) as store:
        first = store.append(TENANT, goal_id, events[:5], expected_version=0)
        console.print(f"1. appended 5 events to [bold]{goal_id}[/] at positions {first}")
        retried = store.append(TENANT, goal_id, events[:5])
        console.print(
            f"2. an activity retry appended the same events: positions {retried}, "
            f"stream still at version {store.stream_version(TENANT, goal_id)}"
        )
        try:
            store.append(TENANT, goal_id, events[5:], expected_version=3)
        except ConcurrencyError as exc:
            console.print(f"3. a stale writer was refused: [yellow]{exc}[/]")
        store.append(TENANT, goal_id, events[5:], expected_version=5)
        old = NewEvent(
            payload=ToolExecutedV1(tool_name="legacy.echo", output="hi", duration_s=0.25)
        )
        store.append(TENANT, f"{goal_id}-legacy", [old])
        upcast = store.read_stream(TENANT, f"{goal_id}-legacy")[0]
        console.print(
            f"4. a stored ToolExecuted v1 (duration_s=0.25) reads as v{upcast.schema_version}: "
            f"duration_ms={upcast.payload.duration_ms}"  # type: ignore[attr-defined]
        )
        timeline = store.read_stream(TENANT, goal_id)
        table = Table(title=f"5. timeline of {goal_id}", title_justify="left")
        for column in ("v", "event", "hash (chained)"):
            table.add_column(column)
        for event in timeline:
            table.add_row(str(event.stream_version), event.event_type, event.hash[:16] + "…")
        console.print(table)
        goal = project_goal(timeline)
        console.print(
            f"6. replayed GoalState: status [bold green]{goal.status}[/], "
            f"steps {[(s.step_id, s.status) for s in goal.steps]}, result {goal.result}"
        )
        report = verify_store(store, TENANT)
        verdict = "[bold green]intact[/]" if report.ok else f"[bold red]{report.first_break}[/]"
        console.print(
            f"7. audit verify: {report.events} events in {report.streams} streams, chains {verdict}"
        )
    console.print(
        f"Try: [bold]omnihub events show {goal_id} --tenant {TENANT}[/] · "
        "[bold]omnihub audit verify[/]"
    )
