"""The saga worker: AgentSaga and its activities on a task queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from omnihub.config import Settings
from omnihub.events import open_event_store
from omnihub.saga._connection import TemporalSupervisor, connect_temporal
from omnihub.saga.activities import PlanProvider, SagaActivities
from omnihub.saga.workflows import AgentSaga
from omnihub.tools import ToolRegistry, ToolResources, default_registry


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with OmniHub's own modules passed through: they are deterministic where
    the workflow uses them, and loading them once keeps workers light."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("omnihub")
    )


def build_worker(
    client: Client,
    activities: SagaActivities,
    *,
    task_queue: str,
    max_concurrent_activities: int = 100,
    max_concurrent_workflow_tasks: int = 100,
) -> Worker:
    """A worker for AgentSaga and ``activities`` on ``task_queue``."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[AgentSaga],
        activities=list(activities.all()),
        workflow_runner=workflow_runner(),
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        # A worker killed with goals in its cache hands them on quickly.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
    )


async def run_worker(
    settings: Settings,
    *,
    registry: ToolRegistry | None = None,
    planner: PlanProvider | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run a worker until ``stop`` is set (or forever), supervising the embedded Temporal
    server when no cluster address is configured."""
    supervisor = (
        None if settings.temporal_address else TemporalSupervisor(settings.home / "temporal")
    )
    client = await connect_temporal(settings, supervisor)
    store = open_event_store(
        settings.resolved_event_store_url, max_payload_bytes=settings.max_payload_bytes
    )
    resources = ToolResources.from_settings(settings)
    activities = SagaActivities(registry or default_registry(), resources, store, planner)
    worker = build_worker(
        client,
        activities,
        task_queue=settings.task_queue,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
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
        resources.close()
        store.close()
        if supervisor is not None:
            supervisor.stop()
