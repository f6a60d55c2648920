"""The red-team suite: attacks and benign control goals, run through the real saga
(:func:`run_redteam_saga`) or against the guard's decisions alone (:func:`run_redteam`)."""

from __future__ import annotations

from omnihub.redteam._run import (
    ObeyingPlanner,
    Outcome,
    Report,
    load_corpus,
    redteam_registry,
    run_redteam,
)
from omnihub.redteam._saga import SagaReport, Sinks, run_redteam_saga

__all__ = [
    "ObeyingPlanner",
    "Outcome",
    "Report",
    "SagaReport",
    "Sinks",
    "load_corpus",
    "redteam_registry",
    "run_redteam",
    "run_redteam_saga",
]
