"""The invariant checker an operator runs after an incident: every goal terminal or live,
every side effect done once or undone once, compensations in LIFO order, ledgers and hash
chains intact (``omnihub audit check``)."""

from omnihub.audit._check import AuditReport, WorkflowView, check_deployment, read_ledger
from omnihub.audit._invariants import (
    INVARIANTS,
    GoalFacts,
    LedgerRow,
    Violation,
    check_goal,
    goal_facts,
)
from omnihub.audit._temporal import TemporalWorkflows, reach_temporal

__all__ = [
    "INVARIANTS",
    "AuditReport",
    "GoalFacts",
    "LedgerRow",
    "TemporalWorkflows",
    "Violation",
    "WorkflowView",
    "check_deployment",
    "check_goal",
    "goal_facts",
    "reach_temporal",
    "read_ledger",
]
