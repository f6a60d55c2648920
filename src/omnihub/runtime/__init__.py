"""The composition root: settings in, a running set of services out.

The API server, the worker, ``omnihub up``, the scenario and the CLI all build what they run
here (event store, Temporal or its embedded dev server, saga client, goal service, planner,
ledger, API keys, idempotency records, nonces and rate limits); nothing below this layer
reads settings to choose a backend for them.
"""

from omnihub.runtime._open import (
    Temporal,
    goals_of,
    open_core_services,
    open_services,
    open_store,
    open_temporal,
    running_services,
    temporal_supervisor,
)
from omnihub.runtime._services import Services
from omnihub.runtime._stack import ApiServer, ServerFactory, StackInfo, run_stack
from omnihub.runtime._stores import (
    open_idempotency_store,
    open_key_store,
    open_nonce_store,
    open_rate_limiter,
)
from omnihub.runtime._telemetry import configure_observability, traced_client, worker_metrics
from omnihub.runtime._worker import open_planner, run_worker

__all__ = [
    "ApiServer",
    "ServerFactory",
    "Services",
    "StackInfo",
    "Temporal",
    "configure_observability",
    "goals_of",
    "open_core_services",
    "open_idempotency_store",
    "open_key_store",
    "open_nonce_store",
    "open_planner",
    "open_rate_limiter",
    "open_services",
    "open_store",
    "open_temporal",
    "run_stack",
    "run_worker",
    "running_services",
    "temporal_supervisor",
    "traced_client",
    "worker_metrics",
]
