"""CLI of the guard: ``policy validate|test|apply|show``, ``redteam`` and ``bench policy``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from omnihub.cli._app import app, bench_app, state

policy_app = typer.Typer(help="Tenant policies (Cedar): validate, test, apply, show.")
app.add_typer(policy_app, name="policy", no_args_is_help=True)

PolicyFile = Annotated[Path, typer.Argument(help="A Cedar policy file.", exists=True)]
TenantOpt = Annotated[str, typer.Option("--tenant", help="The tenant.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@policy_app.command("validate")
def policy_validate(file: PolicyFile, as_json: JsonOpt = False) -> None:
    """Check a policy file against OmniHub's Cedar schema (exit 1 when it is invalid)."""
    from omnihub.guard import PolicySet

    policies = PolicySet.parse(file.read_text(encoding="utf-8"))
    result = {"valid": True, "policies": policies.policy_ids(), "digest": policies.digest}
    typer.echo(json.dumps(result) if as_json else f"valid: {len(policies.policy_ids())} policies")


@policy_app.command("test")
def policy_test(
    file: PolicyFile,
    cases: Annotated[Path, typer.Option("--cases", help="YAML of example requests.", exists=True)],
    as_json: JsonOpt = False,
) -> None:
    """Run example requests against a policy file; exit 1 when a decision differs."""
    from omnihub.guard import PolicySet
    from omnihub.guard._cases import load_cases, run_cases

    results = run_cases(PolicySet.parse(file.read_text(encoding="utf-8")), load_cases(cases))
    failed = [r for r in results if not r.passed]
    if as_json:
        rows = [r.__dict__ | {"passed": r.passed} for r in results]
        typer.echo(json.dumps({"cases": len(results), "failed": len(failed), "results": rows}))
    else:
        for r in results:
            mark = "ok  " if r.passed else "FAIL"
            typer.echo(f"{mark} {r.name}: expected {r.expected}, got {r.actual} {r.policy_ids}")
    if failed:
        raise typer.Exit(1)


@policy_app.command("apply")
def policy_apply(
    ctx: typer.Context,
    file: PolicyFile,
    tenant: TenantOpt = "default",
    by: Annotated[str, typer.Option("--by", help="Who applies it (recorded).")] = "cli",
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """Validate a policy file and make it the tenant's next version (takes effect at once)."""
    from omnihub.events import open_event_store
    from omnihub.guard import PolicyStore

    settings = state(ctx).settings
    with open_event_store(settings.resolved_event_store_url) as store:
        applied = PolicyStore(store).apply(
            tenant, file.read_text(encoding="utf-8"), applied_by=by, reason=reason
        )
    typer.echo(f"tenant {tenant}: policy set version {applied.version} ({applied.digest[:12]})")


@policy_app.command("show")
def policy_show(
    ctx: typer.Context, tenant: TenantOpt = "default", as_json: JsonOpt = False
) -> None:
    """Print the tenant's current policy set (the defaults, version 0, when none was applied)."""
    from omnihub.events import open_event_store
    from omnihub.guard import PolicyStore

    settings = state(ctx).settings
    with open_event_store(settings.resolved_event_store_url) as store:
        current = PolicyStore(store).current(tenant)
    if as_json:
        row = {"tenant": tenant, "version": current.version, "digest": current.digest}
        typer.echo(json.dumps(row | {"policies": current.text}))
    else:
        typer.echo(f"// tenant {tenant}, version {current.version}\n{current.text}")


@app.command("redteam")
def redteam(
    as_json: JsonOpt = False,
    decisions_only: Annotated[
        bool, typer.Option("--decisions-only", help="Judge the guard's decisions only (fast).")
    ] = False,
    temporal_address: Annotated[
        str | None,
        typer.Option("--temporal-address", help="Use this Temporal instead of a dev server."),
    ] = None,
) -> None:
    """Run the red-team suite against the default policies through real workflows (a Temporal
    dev server of its own, loopback sinks); exit 1 on any unauthorised effect or false block."""
    import asyncio

    from omnihub.redteam import run_redteam, run_redteam_saga

    if decisions_only:
        report = run_redteam().as_json()
    else:
        report = asyncio.run(run_redteam_saga(temporal_address)).as_json()
    if as_json:
        typer.echo(json.dumps(report))
    else:
        for key in ("attacks", "blocked", "held_for_approval", "unauthorised_effects"):
            typer.echo(f"{key}: {report[key]}")
        typer.echo(f"benign: {report['benign']}, false_blocks: {report['false_blocks']}")
    failed = bool(report["unauthorised_effects"] or report["false_blocks"])
    if decisions_only:
        if failed:
            raise typer.Exit(1)
        return
    # The saga run talks to Temporal: leave like the other Temporal commands do.
    from omnihub.cli._saga import _leave

    _leave(1 if failed else 0)


@bench_app.command("policy")
def bench_policy(
    evaluations: Annotated[int, typer.Option("--evaluations")] = 2000,
    as_json: JsonOpt = False,
) -> None:
    """Latency of one guarded step: provenance trace, Cedar context and decision."""
    from omnihub.bench import run_policy_benchmark

    result = run_policy_benchmark(evaluations)
    typer.echo(json.dumps(result) if as_json else "\n".join(f"{k}: {v}" for k, v in result.items()))
