"""Plans: the DAG of tool calls a goal runs, its validation and ``$ref`` references."""

from omnihub.errors import PlanValidationError
from omnihub.plans._models import HOLD_PREFIX, Plan, PlanStep, is_reserved_step_id
from omnihub.plans._refs import iter_refs, parse_ref, resolve_refs
from omnihub.plans._validate import ancestors, find_cycle, ready_steps, validate_plan

__all__ = [
    "HOLD_PREFIX",
    "Plan",
    "PlanStep",
    "PlanValidationError",
    "ancestors",
    "find_cycle",
    "is_reserved_step_id",
    "iter_refs",
    "parse_ref",
    "ready_steps",
    "resolve_refs",
    "validate_plan",
]
