"""The ``omnihub`` command line.

Each component adds its commands in its own module here (``_events.py``, ``_saga.py``, …),
registered on the root ``app`` or the ``bench_app`` group; importing them below wires them in.

Each module imports at its top only what its commands' signatures need (typer, enums, light
``omnihub`` names); a command imports its real dependencies inside its own function. So
``omnihub --help`` and a command such as ``audit verify`` load no Temporal, cache, API or
runtime code: when every module imported those at the top, they cost ~0.8 s of every start.
A test pins it (tests/cli/test_imports.py).
"""

from omnihub.cli import (  # noqa: F401  (each registers its commands)
    _audit_check,
    _cache,
    _chaos,
    _config,
    _demo,
    _events,
    _goals,
    _planning,
    _policy,
    _saga,
    _service,
)
from omnihub.cli._app import CliState, app, bench_app, main, state

__all__ = ["CliState", "app", "bench_app", "main", "state"]
