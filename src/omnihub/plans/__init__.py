"""Plans: the DAG of tool calls a goal runs, its validation and ``$ref`` references."""

from omnihub.errors import PlanValidationError
from omnihub.plans._models import Plan, PlanStep
from omnihub.plans._refs import iter_refs, parse_ref, resolve_refs
from omnihub.plans._validate import ancestors, find_cycle, ready_steps, validate_plan

__all__ = [
    "Plan",
    "PlanStep",
    "PlanValidationError",
    "ancestors",
    "find_cycle",
    "iter_refs",
    "parse_ref",
    "ready_steps",
    "resolve_refs",
    "validate_plan",
]
