"""Durable agent sagas on Temporal: the AgentSaga workflow, its activities and worker, and
the client that starts and steers goals.

Layout follows Temporal's samples: ``workflows.py`` is deterministic code only,
``activities.py`` does all I/O, ``worker.py`` runs both.
"""

from omnihub.saga._client import SagaClient, goal_workflow_id
from omnihub.saga._connection import TemporalSupervisor, connect_temporal
from omnihub.saga._models import (
    ApprovalDecision,
    CompensationEntry,
    CompensationReport,
    ControlRequest,
    GoalSpec,
    PendingApproval,
    PlanningInput,
    ProvidedPlan,
    SagaInput,
    SagaMetrics,
    SagaOptions,
    SagaResult,
    SagaState,
    StepPolicy,
)
from omnihub.saga.activities import PlanProvider, SagaActivities
from omnihub.saga.worker import build_worker, workflow_runner
from omnihub.saga.workflows import AgentSaga

__all__ = [
    "AgentSaga",
    "ApprovalDecision",
    "CompensationEntry",
    "CompensationReport",
    "ControlRequest",
    "GoalSpec",
    "PendingApproval",
    "PlanProvider",
    "PlanningInput",
    "ProvidedPlan",
    "SagaActivities",
    "SagaClient",
    "SagaInput",
    "SagaMetrics",
    "SagaOptions",
    "SagaResult",
    "SagaState",
    "StepPolicy",
    "TemporalSupervisor",
    "build_worker",
    "connect_temporal",
    "goal_workflow_id",
    "workflow_runner",
]
