"""``omnihub chaos``: the chaos suite, printing one JSON object."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import typer

from omnihub.cli._app import app


@app.command()
def chaos(
    goals: Annotated[int, typer.Option(min=1, help="Goals to run.")] = 60,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 3,
    tool_fault_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Chance of a tool fault before each effect.")
    ] = 0.1,
    kill_workers: Annotated[int, typer.Option(min=0, help="SIGKILLs of workers.")] = 1,
    kill_temporal: Annotated[int, typer.Option(min=0, help="SIGKILLs of Temporal.")] = 1,
    restart_postgres: Annotated[
        int, typer.Option(min=0, help="Immediate restarts of PostgreSQL (--store postgres).")
    ] = 0,
    kill_redis: Annotated[int, typer.Option(min=0, help="SIGKILLs of Redis.")] = 0,
    store: Annotated[str, typer.Option(help="sqlite or postgres.")] = "sqlite",
    seed: Annotated[int, typer.Option(help="The same seed gives the same faults.")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, help="Goals in flight at once.")] = 24,
    deadline_s: Annotated[
        float | None, typer.Option(help="Goals not ended by then are stuck.")
    ] = None,
    work_dir: Annotated[Path | None, typer.Option(help="Keep servers' data here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run goals on real servers while tools fail and processes are killed; exit 1 when an
    invariant broke or a goal was stuck."""
    from omnihub.chaos import ChaosOptions, run_chaos

    if store not in ("sqlite", "postgres"):
        raise typer.BadParameter("--store must be sqlite or postgres")
    kind: Literal["sqlite", "postgres"] = "postgres" if store == "postgres" else "sqlite"
    options = ChaosOptions(
        goals=goals,
        workers=workers,
        fault_rate=tool_fault_rate,
        kill_workers=kill_workers,
        kill_temporal=kill_temporal,
        restart_postgres=restart_postgres,
        kill_redis=kill_redis,
        store=kind,
        seed=seed,
        concurrency=concurrency,
        deadline_s=deadline_s,
    )
    with tempfile.TemporaryDirectory(prefix="omnihub-chaos-") as scratch:
        report = asyncio.run(run_chaos(options, work_dir or Path(scratch)))
    sound = (
        report["stuck"] == 0
        and report["duplicate_effects"] == 0
        and report["orphan_effects"] == 0
        and report["missing_compensations"] == 0
        and report["lifo_violations"] == 0
        and report["chain_intact"]
    )
    typer.echo(json.dumps(report, sort_keys=True, indent=None if as_json else 2))
    sys.stdout.flush()
    # temporalio/sdk-python#300: a process that ran many workflows can abort at exit.
    if Path(sys.argv[0]).name in ("omnihub", "__main__.py"):
        os._exit(0 if sound else 1)
    if not sound:
        raise typer.Exit(1)
