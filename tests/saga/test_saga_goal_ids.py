"""A goal id names one run of the saga, ever: starting it again after it ended is refused."""

from __future__ import annotations

import pytest
from sagakit import SagaStack

from omnihub.errors import GoalExistsError
from omnihub.plans import Plan, PlanStep


async def test_starting_an_ended_goal_again_raises_and_runs_nothing(stack: SagaStack) -> None:
    plan = Plan(steps=[PlanStep(id="s1", tool="respond_to_user", args={"message": "done"})])
    goal_id = await stack.sagas.start("say done", plan)
    assert (await stack.sagas.result(goal_id)).status == "completed"
    events = stack.event_types(goal_id)

    # An idempotent resubmission that arrives after the goal ended (an API retry with the
    # same Idempotency-Key) must find the goal, not run its steps a second time.
    with pytest.raises(GoalExistsError):
        await stack.sagas.start("say done", plan, goal_id=goal_id)
    assert stack.event_types(goal_id) == events
