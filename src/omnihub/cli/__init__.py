"""The ``omnihub`` command line.

Each component adds its commands in its own module here (``_events.py``, ``_saga.py``, …),
registered on the root ``app`` or the ``bench_app`` group; importing them below wires them in.
"""

from omnihub.cli import _cache, _demo, _events, _planning, _saga  # noqa: F401  (register their commands)
from omnihub.cli._app import CliState, app, bench_app, main, state

__all__ = ["CliState", "app", "bench_app", "main", "state"]
