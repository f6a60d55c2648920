"""``omnihub audit check``: the invariant checker, run against any deployment's store."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from omnihub.cli._app import state
from omnihub.cli._events import StoreUrl, Tenant, audit_app

# Exit statuses: 0 every goal checked and sound, 1 an invariant broken, 2 sound as far as it
# could be checked, but non-terminal goals could not be verified (Temporal unreachable).
EXIT_BROKEN = 1
EXIT_UNVERIFIED = 2


@audit_app.command("check")
def audit_check(
    ctx: typer.Context,
    store_url: StoreUrl = None,
    tenant: Tenant = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check every goal's invariants; exit 1 naming the first goal that breaks one.

    Every goal terminal or running with a live workflow; each side-effect step completed once
    or compensated once; compensations in reverse order of completion; no effect twice in the
    idempotency ledger; hash chains and stream versions intact; running goals' projections
    equal to their workflows' state. Exit 2 when Temporal is unreachable and some goals are
    still running (reported as unverified).
    """
    from rich.console import Console

    from omnihub.audit import AuditReport, check_deployment, reach_temporal
    from omnihub.events import open_event_store
    from omnihub.tools import open_database

    settings = state(ctx).settings
    url = store_url or settings.resolved_event_store_url

    async def main() -> AuditReport:
        workflows, note = await reach_temporal(settings)
        with open_event_store(url, max_payload_bytes=settings.max_payload_bytes) as store:
            ledger = open_database(url)
            try:
                return await check_deployment(
                    store, ledger, tenant_id=tenant, workflows=workflows, temporal_note=note
                )
            finally:
                ledger.close()

    report = asyncio.run(main())
    if as_json:
        typer.echo(json.dumps(report.to_json(), sort_keys=True))
    else:
        err = Console(stderr=True)
        typer.echo(
            f"{report.goals} goals {report.statuses}, {report.events} events in "
            f"{report.streams} streams; Temporal {report.temporal}"
        )
        for violation in report.violations[:20]:
            err.print(f"[bold red]broken[/] {violation}", highlight=False)
        if report.unverified:
            err.print(f"{len(report.unverified)} running goal(s) unverified", highlight=False)
    first = report.first_violation
    if first is not None:
        Console(stderr=True).print(
            f"first goal breaking an invariant: {first.goal_id} ({first.invariant})",
            highlight=False,
        )
        raise typer.Exit(EXIT_BROKEN)
    if report.unverified:
        raise typer.Exit(EXIT_UNVERIFIED)
