"""``omnihub serve`` (the HTTP API) and ``omnihub keys`` (API keys per tenant)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from omnihub.auth import Role
from omnihub.cli._app import app, state

if TYPE_CHECKING:
    from omnihub.auth import KeyStore

keys_app = typer.Typer(
    help="API keys: one per client, scoped to a tenant, with a role.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


def _key_store(ctx: typer.Context) -> KeyStore:
    from omnihub.auth import SecretCipher, open_key_store

    settings = state(ctx).settings
    return open_key_store(
        settings.resolved_api_keys_url, cipher=SecretCipher.from_settings(settings)
    )


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: OMNIHUB_API_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to bind (default: OMNIHUB_API_PORT, 8700).")
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) until Ctrl-C or SIGTERM.

    Authenticate with a key from `omnihub keys create`. Temporal is the configured cluster, or
    the embedded dev server (started if none runs); goals run on workers (`omnihub worker`).
    `omnihub up` runs the API, a worker and Temporal together.
    """
    from omnihub.api import build_server

    build_server(state(ctx).settings, host=host, port=port).run()


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option(help="Tenant the key acts for.")],
    role: Annotated[
        Role, typer.Option(help="viewer reads; operator also submits and steers; admin all.")
    ],
    signed: Annotated[
        bool,
        typer.Option(help="Require every request made with this key to be HMAC-signed."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"key", "tenant", "role"} as JSON.')
    ] = False,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from rich.console import Console

    store = _key_store(ctx)
    try:
        created = store.create(tenant, role, require_signature=signed)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"key": created.key, "tenant": tenant, "role": created.role.value}))
        return
    typer.echo(created.key)
    Console(stderr=True).print(
        f"key {created.key_id} for tenant {tenant!r} with role {created.role.value}"
        f"{' (signed requests only)' if signed else ''}: store it now, it is not shown again.",
        highlight=False,
    )


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
) -> None:
    """List keys (ids, tenants, roles; never the keys themselves)."""
    from rich.console import Console
    from rich.table import Table

    store = _key_store(ctx)
    try:
        infos = store.list(tenant)
    finally:
        store.close()
    table = Table("key id", "tenant", "role", "signed", "created", "revoked")
    for info in infos:
        table.add_row(
            info.key_id,
            info.tenant_id,
            info.role.value,
            "yes" if info.require_signature else "no",
            info.created_at.isoformat(timespec="seconds"),
            info.revoked_at.isoformat(timespec="seconds") if info.revoked_at else "",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="Id from `keys list`.")]
) -> None:
    """Revoke a key: requests made with it are refused from now on."""
    store = _key_store(ctx)
    try:
        store.revoke(key_id)
    finally:
        store.close()
    typer.echo(f"revoked {key_id}")
