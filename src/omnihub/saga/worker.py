"""The saga worker: AgentSaga and its activities on a task queue (``omnihub.runtime`` builds
and runs one from settings)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from omnihub.saga.activities import SagaActivities
from omnihub.saga.workflows import AgentSaga


def workflow_runner() -> UnsandboxedWorkflowRunner:
    """How workers (and the replay tests) run AgentSaga: outside Temporal's sandbox.

    The sandbox passed every OmniHub module through (imported once, outside it), so its
    restrictions never applied to the workflow's own code; yet entering it on every activation
    and for every payload's serialization context took about 30 % of a worker's CPU (``bench
    saga``, 300 goals in process: 9.5 s against 13.2 s). Determinism rests where it did: the
    workflow's code (time from ``workflow.now()``, all I/O in activities), Temporal's replay
    checks, and the replay tests of committed histories.
    """
    return UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    activities: SagaActivities,
    *,
    task_queue: str,
    max_concurrent_activities: int = 100,
    max_concurrent_workflow_tasks: int = 100,
    graceful_shutdown_s: float = 0.0,
) -> Worker:
    """A worker for AgentSaga and ``activities`` on ``task_queue``.

    On shutdown it stops polling, then gives running activities ``graceful_shutdown_s`` to
    finish before cancelling them; one cancelled (or on a worker that dies) is retried on
    another worker after its heartbeat or start-to-close timeout, and acts once through the
    idempotency ledger.
    """
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
        graceful_shutdown_timeout=timedelta(seconds=graceful_shutdown_s),
    )
