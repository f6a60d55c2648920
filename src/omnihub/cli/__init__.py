"""The ``omnihub`` command line."""

from omnihub.cli._app import CliState, app, main, state

__all__ = ["CliState", "app", "main", "state"]
