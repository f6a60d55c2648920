"""The saga's pieces without a workflow: public names, connection settings, activities."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sagakit import make_resources
from temporalio.exceptions import ApplicationError
from temporalio.service import TLSConfig
from temporalio.testing import ActivityEnvironment

import omnihub.saga
from omnihub.config import load_settings
from omnihub.errors import ConfigurationError, ServerError, ValidationError
from omnihub.events import GoalReceived, NewEvent, PlanGenerated, open_event_store
from omnihub.plans import Plan, PlanStep
from omnihub.saga import PlanningInput, ProvidedPlan, SagaActivities, connect_temporal
from omnihub.saga._connection import _tls
from omnihub.saga._models import CompensateInput, CompensationEntry, StepInput
from omnihub.saga._progress import Progress
from omnihub.saga.activities import step_policy
from omnihub.saga.workflows import failure_message, retry_policy
from omnihub.servers import EmbeddedTemporal, free_port
from omnihub.tools import default_registry

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_public_names_are_sorted_and_pinned() -> None:
    assert omnihub.saga.__all__ == sorted(omnihub.saga.__all__)
    for name in ("AgentSaga", "SagaClient", "SagaActivities", "build_worker"):
        assert name in omnihub.saga.__all__


def test_tls_settings_become_a_tls_config(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_bytes(f"-----{name}-----".encode())
    settings = load_settings(
        temporal_address="cloud.example:7233",
        temporal_tls_ca_file=tmp_path / "ca.pem",
        temporal_tls_cert_file=tmp_path / "cert.pem",
        temporal_tls_key_file=tmp_path / "key.pem",
    )
    tls = _tls(settings)
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert == b"-----ca.pem-----"
    assert tls.client_private_key == b"-----key.pem-----"
    assert _tls(load_settings(temporal_api_key="k")) is True
    assert _tls(load_settings()) is False
    with pytest.raises(ConfigurationError, match="TLS file"):
        _tls(load_settings(temporal_tls_ca_file=tmp_path / "missing.pem"))


async def test_connecting_to_a_configured_cluster(temporal_server: EmbeddedTemporal) -> None:
    client = await connect_temporal(
        load_settings(temporal_address=temporal_server.address, temporal_namespace="default")
    )
    assert client.namespace == "default"
    with pytest.raises(ServerError, match="cannot connect to Temporal"):
        await connect_temporal(load_settings(temporal_address=f"127.0.0.1:{free_port()}"))


def _activities(tmp_path: Path) -> SagaActivities:
    db = tmp_path / "events.db"
    return SagaActivities(
        default_registry(), make_resources(db), open_event_store(f"sqlite:///{db}")
    )


def _record_goal(
    activities: SagaActivities, steps: dict[str, tuple[str, dict[str, object]]]
) -> None:
    """What prepare_goal records before any step runs: the step check reads its goal and plan."""
    plan = [{"id": s, "tool": t, "args": a} for s, (t, a) in steps.items()]
    events = [
        GoalReceived(goal="unit", user_id="u"),
        PlanGenerated.model_validate({"plan_id": "p", "steps": plan, "source": "client"}),
    ]
    activities.store.append("t", "g", [NewEvent(payload=e) for e in events])


def _one_order_step(tmp_path: Path) -> tuple[SagaActivities, StepInput]:
    """A recorded one-step goal that writes an order, and the input of that step."""
    activities = _activities(tmp_path)
    _record_goal(activities, {"s1": ("database_write", {"table": "orders"})})
    step = StepInput(
        tenant_id="t",
        goal_id="g",
        step_id="s1",
        tool="database_write",
        args={"table": "orders", "values": {"sku": "x"}},
        at=NOW,
    )
    return activities, step


async def test_a_retried_step_activity_acts_and_records_once(tmp_path: Path) -> None:
    activities, step = _one_order_step(tmp_path)
    env = ActivityEnvironment()
    first = await env.run(activities.execute_step, step)
    again = await env.run(activities.execute_step, step)
    assert first == again
    assert first.compensation is not None
    assert first.compensation.args == {"table": "orders", "id": first.output["record_id"]}
    recorded = activities.store.read_stream("t", "g")
    types = [e.event_type for e in recorded][2:]
    assert types == ["PolicyEvaluated", "StepStarted", "ToolExecuted", "StepCompleted"]
    # The retry reports the position of the one StepCompleted, which orders the stack.
    assert first.position == recorded[-1].global_position
    undo = CompensateInput(tenant_id="t", goal_id="g", entry=first.compensation, at=NOW)
    assert await env.run(activities.compensate_step, undo) == {"deleted": 1}
    assert await env.run(activities.compensate_step, undo) == {"deleted": 1}
    types = [e.event_type for e in activities.store.read_stream("t", "g")]
    assert types.count("CompensationExecuted") == 1


async def test_a_retry_of_a_completed_step_records_no_second_start(tmp_path: Path) -> None:
    """The worker died after the step's last append (which may hold GoalCompleted) and before
    Temporal heard of it: the next attempt acts through the ledger and records nothing, not
    a StepStarted after the step's end."""
    activities, step = _one_order_step(tmp_path)
    env = ActivityEnvironment()
    first = await env.run(activities.execute_step, step)
    env.info = dataclasses.replace(env.info, attempt=2)
    again = await env.run(activities.execute_step, step)
    assert again.output == first.output
    types = [e.event_type for e in activities.store.read_stream("t", "g")][2:]
    assert types == ["PolicyEvaluated", "StepStarted", "ToolExecuted", "StepCompleted"]
    assert activities.store.goal_state("t", "g").step("s1").status == "completed"  # type: ignore[union-attr]


def test_the_stack_keeps_the_stores_order_of_completion() -> None:
    def entry(step_id: str, position: int | None) -> CompensationEntry:
        return CompensationEntry(step_id=step_id, tool="undo", args={}, position=position)

    progress = Progress()
    # Carried from a run before positions: stays below everything positioned.
    progress.push(entry("old", None), by_position=True)
    for step_id, position in (("b", 20), ("d", 40), ("a", 10), ("c", 30)):
        progress.push(entry(step_id, position), by_position=True)
    assert [e.step_id for e in progress.stack] == ["old", "a", "b", "c", "d"]
    # A history recorded before the patch keeps the order results arrived in.
    progress.push(entry("early", 5), by_position=False)
    assert [e.step_id for e in progress.stack][-1] == "early"


async def test_activity_failures_carry_type_retryability_and_jittered_delay(
    tmp_path: Path,
) -> None:
    activities = _activities(tmp_path)
    _record_goal(
        activities,
        {"s1": ("database_write", {}), "s2": ("http_request", {"url": "http://h.invalid/"})},
    )
    env = ActivityEnvironment()
    bad = StepInput(
        tenant_id="t", goal_id="g", step_id="s1", tool="database_write", args={}, at=NOW
    )
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.execute_step, bad)
    assert caught.value.non_retryable
    assert caught.value.type == "ToolError"
    unreachable = StepInput(
        tenant_id="t",
        goal_id="g",
        step_id="s2",
        tool="http_request",
        args={"url": "http://no-such-host.invalid/"},
        at=NOW,
    )
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.execute_step, unreachable)
    assert not caught.value.non_retryable
    delay = caught.value.next_retry_delay
    assert delay is not None
    assert 0.5 <= delay.total_seconds() <= 1.0  # first backoff of 1 s, with jitter
    undo = CompensateInput(
        tenant_id="t",
        goal_id="g",
        entry=CompensationEntry(step_id="s9", tool="database_delete", args={"table": "nope"}),
        at=NOW,
    )
    with pytest.raises(ApplicationError):
        await env.run(activities.compensate_step, undo)


async def test_prepare_reports_invalid_plans_and_missing_planners(tmp_path: Path) -> None:
    activities = _activities(tmp_path)
    env = ActivityEnvironment()
    prepared = await env.run(
        activities.prepare_goal,
        PlanningInput(tenant_id="t", goal_id="g", goal="x", user_id="u", plan=None, at=NOW),
    )
    assert prepared.error == "the goal has no plan and no planner is configured"


def test_policies_and_failure_messages_translate_faithfully() -> None:
    policy = step_policy(default_registry().get("database_write"))
    assert policy.compensation_tool == "database_delete"
    temporal = retry_policy(policy.retry)
    assert temporal.maximum_attempts == policy.retry.max_attempts
    assert failure_message(ApplicationError("boom", type="ToolError")) == "ToolError: boom"
    assert failure_message(ValueError("plain")) == "plain"


class _FixedPlanner:
    """A stand-in planner passed in: one answer step, or a failure."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def plan(self, request: PlanningInput) -> ProvidedPlan:
        if self.fail:
            raise ValidationError("the planner could not plan")
        plan = Plan(
            steps=[PlanStep(id="a", tool="respond_to_user", args={"message": request.goal})]
        )
        return ProvidedPlan(
            plan=plan,
            source="llm",
            model="stand-in",
            token_usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        )


async def test_a_goal_without_a_plan_asks_the_planner(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = open_event_store(f"sqlite:///{db}")
    env = ActivityEnvironment()
    request = PlanningInput(
        tenant_id="t", goal_id="g", goal="hi", user_id="u", plan=None, at=NOW, context={"k": 1}
    )
    planned = SagaActivities(default_registry(), make_resources(db), store, _FixedPlanner())
    prepared = await env.run(planned.prepare_goal, request)
    assert prepared.plan is not None
    assert prepared.plan.steps[0].args == {"message": "hi"}
    generated, decided = store.read_stream("t", "g")[-2:]
    assert generated.event_type == "PlanGenerated"
    assert decided.payload.model_dump()["outcome"] == "permit"  # the step, decided
    made = generated.payload.model_dump()
    assert (made["source"], made["model"]) == ("llm", "stand-in")
    assert made["token_usage"]["total_tokens"] == 5
    received = store.read_stream("t", "g")[0]
    assert received.payload.model_dump()["context"] == {"k": 1}
    failing = SagaActivities(default_registry(), make_resources(db), store, _FixedPlanner(True))
    failed = await env.run(failing.prepare_goal, request.model_copy(update={"goal_id": "g2"}))
    assert failed.error == "planning failed: the planner could not plan"


async def test_only_transient_rpc_errors_are_tried_again() -> None:
    from temporalio.service import RPCError, RPCStatusCode

    from omnihub.saga._client import _ATTEMPTS, _back_off

    busy = RPCError("context deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")
    await _back_off(busy, 0)  # waits, then lets the caller try again
    with pytest.raises(RPCError):
        await _back_off(busy, _ATTEMPTS - 1)
    denied = RPCError("denied", RPCStatusCode.PERMISSION_DENIED, b"")
    with pytest.raises(RPCError, match="denied"):
        await _back_off(denied, 0)


async def test_a_clients_explicit_plan_is_recorded_as_made_by_the_client(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = open_event_store(f"sqlite:///{db}")
    plan = Plan(steps=[PlanStep(id="a", tool="respond_to_user", args={"message": "hi"})])
    request = PlanningInput(tenant_id="t", goal_id="g", goal="hi", plan=plan, at=NOW)
    activities = SagaActivities(default_registry(), make_resources(db), store)
    prepared = await ActivityEnvironment().run(activities.prepare_goal, request)
    assert prepared.plan == plan
    generated, decided = store.read_stream("t", "g")[-2:]
    assert generated.event_type == "PlanGenerated"
    assert decided.payload.model_dump()["outcome"] == "permit"  # the step, decided
    assert generated.payload.model_dump()["source"] == "client"
