"""A saga worker built from settings: Temporal, the event store, the tools' resources and the
planner behind the plan cache, run until stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from omnihub.config import Settings
from omnihub.guard import Guard, PolicyStore
from omnihub.runtime._open import open_store, temporal_supervisor
from omnihub.runtime._telemetry import configure_observability, traced_client, worker_metrics
from omnihub.saga import PlanProvider, SagaActivities, build_worker, connect_temporal
from omnihub.telemetry import flush_tracing
from omnihub.tools import ToolRegistry, ToolResources, default_registry

if TYPE_CHECKING:
    from omnihub.events import EventStore
    from omnihub.planning import PlanningService, SagaPlanProvider


def open_planner(
    settings: Settings, registry: ToolRegistry
) -> tuple[SagaPlanProvider, PlanningService]:
    """The configured planner behind the plan cache, as the saga's plan provider (close the
    planning service with ``aclose()``)."""
    from omnihub.planning import SagaPlanProvider, build_planning_service

    planning = build_planning_service(settings, registry)
    return SagaPlanProvider(planning), planning


def _plan_feedback(store: EventStore, planning: PlanningService | None) -> Any:
    """Demote a cached plan whose goal failed because of it (None without a plan cache)."""
    if planning is None or planning.cache is None:
        return None
    from omnihub.planning import PlanFeedback

    return PlanFeedback(store, planning.cache).goal_failed


async def run_worker(
    settings: Settings,
    *,
    registry: ToolRegistry | None = None,
    planner: PlanProvider | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run a worker until ``stop`` is set (or forever), supervising the embedded Temporal
    server when no cluster address is configured. Without ``planner``, goals are planned by
    the configured planner behind the plan cache."""
    configure_observability(settings, "omnihub-worker")
    registry = registry or default_registry()
    planning = None
    if planner is None:
        planner, planning = open_planner(settings, registry)
    supervisor = temporal_supervisor(settings)
    store = resources = None
    metrics = contextlib.ExitStack()
    try:
        metrics.enter_context(worker_metrics(settings))
        client = traced_client(await connect_temporal(settings, supervisor))
        store = open_store(settings)
        resources = ToolResources.from_settings(settings)
        learn = _plan_feedback(store, planning)
        # One guard for planning and the saga: the tenant's stored policies, read per decision.
        guard = Guard(registry, PolicyStore(store).engine)
        if planning is not None:
            planning.guard = guard
        activities = SagaActivities(
            registry, resources, store, planner, on_goal_failed=learn, guard=guard
        )
        worker = build_worker(
            client,
            activities,
            task_queue=settings.task_queue,
            max_concurrent_activities=settings.worker_max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
            graceful_shutdown_s=settings.worker_graceful_shutdown_s,
        )
        watching = asyncio.create_task(supervisor.watch()) if supervisor else None
        try:
            async with worker:
                if on_ready is not None:
                    on_ready()
                await (stop or asyncio.Event()).wait()
        finally:
            if watching is not None:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
    finally:
        # The CLI leaves with os._exit, which skips the SDK's exit hook: export spans now.
        flush_tracing()
        metrics.close()
        if resources is not None:
            resources.close()
        if store is not None:
            store.close()
        if supervisor is not None:
            supervisor.stop()
        if planning is not None:
            await planning.aclose()
