"""Plans: a DAG of tool calls, as Pydantic models that cross the planner/saga boundary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

STEP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

#: The namespace of the saga's pseudo-steps (a goal held for a person's approval before it
#: has a plan, e.g. ``hold:budget``). ``:`` is outside :data:`STEP_ID_PATTERN`, so no plan, and
#: no planner steered by goal text, can name one and inherit its approval.
HOLD_PREFIX = "hold:"


def is_reserved_step_id(step_id: str) -> bool:
    """Whether ``step_id`` lies in the saga's pseudo-step namespace."""
    return step_id.startswith(HOLD_PREFIX)


class PlanStep(BaseModel):
    """One tool call. ``args`` may hold ``{"$ref": "steps.<id>.output.<field>[.<field>…]"}``
    values, replaced by that earlier step's output when the step runs; the referenced step
    must be among this step's (direct or indirect) dependencies."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=STEP_ID_PATTERN, description="Unique within the plan.")
    tool: str = Field(min_length=1, description="A registered tool name.")
    args: dict[str, Any] = Field(default_factory=dict, description="The tool's input.")
    depends_on: list[str] = Field(
        default_factory=list, description="Steps that must complete before this one runs."
    )


class Plan(BaseModel):
    """Steps to run as a DAG, and why the planner chose them."""

    model_config = ConfigDict(frozen=True)

    steps: list[PlanStep] = Field(min_length=1)
    reasoning: str = ""

    def step(self, step_id: str) -> PlanStep:
        """The step called ``step_id`` (KeyError when there is none)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
