"""Pins the public names of omnihub.events (other components build on them)."""

from __future__ import annotations

import omnihub.events


def test_events_public_names_are_sorted_and_complete() -> None:
    names = omnihub.events.__all__
    # ruff's isort-style order: CONSTANTS, then Classes, then functions.
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert len(set(names)) == len(names)
    for required in [
        "EventStore",
        "open_event_store",
        "NewEvent",
        "EventEnvelope",
        "register_event",
        "GoalState",
        "project_goal",
        "GoalReceived",
        "PlanGenerated",
        "StepStarted",
        "ToolExecuted",
        "StepCompleted",
        "StepFailed",
        "GoalCompleted",
        "GoalFailed",
        "CompensationExecuted",
        "CompensationFailed",
        "ApprovalRequested",
        "ApprovalGranted",
        "ApprovalRejected",
        "GoalCancelled",
        "GoalPaused",
        "GoalResumed",
    ]:
        assert required in names
    for name in names:
        assert getattr(omnihub.events, name) is not None
