"""``omnihub config docs``: the configuration reference, generated from the settings model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omnihub.cli._app import app

config_app = typer.Typer(help="The configuration and its reference.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("docs")
def config_docs(
    readme: Annotated[
        Path | None,
        typer.Option(help="Rewrite the settings table between its markers in this file."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="With --readme: exit 1 if its table is not current.")
    ] = False,
) -> None:
    """Print the table of every setting (variable, type, default, meaning), or update README.md
    with it (`make docs`)."""
    from omnihub.config import render_settings_table, settings_table

    if readme is None:
        typer.echo(settings_table(), nl=False)
        return
    current = readme.read_text(encoding="utf-8")
    updated = render_settings_table(current)
    if check:
        if updated != current:
            typer.echo(f"{readme}: the settings table is stale; run `make docs`", err=True)
            raise typer.Exit(1)
        return
    if updated != current:
        readme.write_text(updated, encoding="utf-8")
        typer.echo(f"updated the settings table in {readme}")
