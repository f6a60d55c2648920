"""The red-team suite: attacks and benign control goals, run against the guard."""

from __future__ import annotations

from omnihub.guard.redteam._run import (
    ObeyingPlanner,
    Outcome,
    Report,
    load_corpus,
    redteam_registry,
    run_redteam,
)

__all__ = [
    "ObeyingPlanner",
    "Outcome",
    "Report",
    "load_corpus",
    "redteam_registry",
    "run_redteam",
]
