"""The ``omnihub`` command line.

Each component adds its commands in its own module here (``_events.py``, ``_saga.py``, …),
registered on the root ``app`` or the ``bench_app`` group; importing them below wires them in.
"""

from omnihub.cli import (
    _cache,  # noqa: F401  (registers `omnihub cache …`)
    _events,  # noqa: F401  (registers the event store commands)
    _planning,  # noqa: F401  (registers plan and usage)
    _service,  # noqa: F401  (registers serve and keys)
)
from omnihub.cli._app import CliState, app, bench_app, main, state

__all__ = ["CliState", "app", "bench_app", "main", "state"]
