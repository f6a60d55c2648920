"""The ``omnihub`` command line.

Each component adds its commands in its own module here (``_events.py``, ``_saga.py``, …),
registered on the root ``app`` or the ``bench_app`` group; importing them below wires them in.
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
