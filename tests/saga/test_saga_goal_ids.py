"""A goal id names one run of the saga, ever: starting it again after it ended is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest
from sagakit import SagaStack
from temporalio.client import Client

from omnihub.config import Settings
from omnihub.errors import GoalExistsError
from omnihub.plans import Plan, PlanStep
from omnihub.saga import SagaClient, goal_workflow_id


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


async def test_a_goal_runs_with_a_short_workflow_task_timeout(stack: SagaStack) -> None:
    # A worker killed while it holds a goal's workflow task (events are appended by local
    # activities inside it) holds the goal until this timeout: Temporal's 10 s default made
    # crash recovery miss its 10 s target, so goals are started with 5 s.
    plan = Plan(steps=[PlanStep(id="s1", tool="respond_to_user", args={"message": "done"})])
    goal_id = await stack.sagas.start("say done", plan)
    await stack.sagas.result(goal_id)
    handle = stack.sagas.client.get_workflow_handle(goal_workflow_id("default", goal_id))
    config = (await handle.describe()).raw_description.execution_config
    assert config.default_workflow_task_timeout.ToSeconds() == 5


def test_the_workflow_task_timeout_is_a_setting() -> None:
    settings = Settings(saga_workflow_task_timeout_s=3)
    sagas = SagaClient.from_settings(cast(Client, object()), settings)
    assert sagas.workflow_task_timeout == timedelta(seconds=3)
