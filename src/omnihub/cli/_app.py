"""The ``omnihub`` command line: a root Typer app that each component adds a group to."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

from omnihub import __version__
from omnihub.errors import OmniHubError

if TYPE_CHECKING:
    from rich.console import Console

    from omnihub.config import Settings

app = typer.Typer(
    name="omnihub",
    help="OmniHub: a durable, auditable runtime for AI agents that take real actions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

bench_app = typer.Typer(
    help="Benchmarks: each prints one JSON object with --json.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")


@dataclass
class CliState:
    """Per-invocation state: settings are built lazily, once, at the entry point."""

    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from omnihub.config import load_settings

            self._settings = load_settings()
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of this invocation (from the root callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks and debug logs.")
    ] = False,
) -> None:
    ctx.obj = CliState(debug=debug)
    if debug:
        logging.basicConfig(level=logging.DEBUG)


@app.command()
def version() -> None:
    """Print the OmniHub version."""
    typer.echo(__version__)


def _err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def main() -> None:
    """Console-script entry point: the command's exit status; OmniHub errors become one clear
    line and exit status 1; usage errors exit 2."""
    debug = "--debug" in sys.argv
    try:
        # Outside standalone mode Click *returns* the status of a command's `typer.Exit(n)`
        # instead of exiting with it; dropping it made every failing command exit 0.
        status = app(standalone_mode=False)
    except OmniHubError as exc:
        if debug:
            raise
        _err_console().print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _err_console().print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option, unknown command
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:  # pragma: no cover - every usage error typer raises today can show itself
            _err_console().print(f"error: {exc.format_message()}", highlight=False)
        sys.exit(exc.exit_code)
    if isinstance(status, int) and status != 0:
        sys.exit(status)
