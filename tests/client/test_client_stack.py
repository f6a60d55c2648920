"""omnihub.client against the real stack: submit, follow, decide, steer, sign, wait.

The events every goal here produced are also validated against the committed CDM schema,
and the store's audit export against its line schema.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from test_goals_stack import Stack, plan, run_stack

from omnihub.auth import Role, open_key_store
from omnihub.client import ApiError, AsyncOmniHubClient, OmniHubClient
from omnihub.events import (
    ApprovalRequested,
    EventEnvelope,
    GoalCompleted,
    PlanGenerated,
    export_jsonl,
    open_event_store,
)
from omnihub.servers import EmbeddedTemporal

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "cdm.schema.json").read_text()
)


@pytest.fixture
async def stack(temporal_server: EmbeddedTemporal) -> AsyncIterator[Stack]:
    async with run_stack(temporal_server, planner=False) as built:
        yield built


def _client(stack: Stack, who: str = "operator", **kwargs: Any) -> AsyncOmniHubClient:
    return AsyncOmniHubClient(str(stack.client.base_url), stack.keys[who], **kwargs)


async def test_async_client_follows_a_goal_through_an_approval_and_resumes_its_stream(
    stack: Stack,
) -> None:
    # A second operator approves: the submitting key may not approve its own goal's steps.
    async with _client(stack) as client, _client(stack, "approver") as approver:
        accepted = await client.submit("book it", plan=plan(guarded=True))
        seen: list[EventEnvelope] = []
        async with asyncio.timeout(60):
            async for event in client.stream(accepted.goal_id):
                seen.append(event)
                if isinstance(event.payload, ApprovalRequested):
                    with pytest.raises(ApiError) as own:
                        await client.approve(accepted.goal_id, event.payload.step_id)
                    assert own.value.status == 403
                    state = await approver.approve(accepted.goal_id, event.payload.step_id)
                    assert state.goal_id == accepted.goal_id
        assert isinstance(seen[-1].payload, GoalCompleted)
        assert [e.stream_version for e in seen] == list(range(1, len(seen) + 1))
        plan_event = next(e for e in seen if e.event_type == "PlanGenerated")
        assert isinstance(plan_event.payload, PlanGenerated)
        assert [s.id for s in plan_event.payload.steps] == ["s1", "s2", "s3"]
        final = await client.wait(accepted.goal_id, timeout=30)
        assert final.status == "completed"
        # Resuming after version 3 sends exactly the rest, as the stored list has it.
        rest = [e async for e in client.stream(accepted.goal_id, after=3)]
        stored = await client.events(accepted.goal_id, after=3)
        assert (
            [e.event_id for e in rest]
            == [e.event_id for e in stored]
            == [e.event_id for e in seen[3:]]
        )
        # Steering an ended goal is a conflict with its state, not bad input.
        with pytest.raises(ApiError) as ended:
            await client.cancel(accepted.goal_id)
        assert (ended.value.status, ended.value.code) == (409, "goal_ended")


async def test_submissions_with_one_idempotency_key_start_one_goal(stack: Stack) -> None:
    async with _client(stack) as client:
        first = await client.submit("book it", plan=plan(), idempotency_key="order-17")
        again = await client.submit("book it", plan=plan(), idempotency_key="order-17")
        other = await client.submit("book it", plan=plan())
        assert first.goal_id == again.goal_id != other.goal_id
        with pytest.raises(ApiError) as reused:
            await client.submit("something else", idempotency_key="order-17")
        assert (reused.value.status, reused.value.code) == (409, "idempotency_key_reused")
        with pytest.raises(ApiError) as missing:
            await client.get("no-such-goal")
        assert missing.value.code == "not_found"


async def test_blocking_client_submits_cancels_and_lists(stack: Stack) -> None:
    def drive() -> tuple[str, str, list[str]]:
        with OmniHubClient(str(stack.client.base_url), stack.keys["operator"]) as client:
            accepted = client.submit("book it", plan=plan(guarded=True))
            for event in client.stream(accepted.goal_id):
                if event.event_type == "ApprovalRequested":
                    client.cancel(accepted.goal_id, reason="changed my mind")
            state = client.wait(accepted.goal_id, timeout=30)
            listed = [g.goal_id for g in client.list_goals(limit=10).items]
            return accepted.goal_id, state.status, listed

    goal_id, status, listed = await asyncio.to_thread(drive)
    assert status == "cancelled"
    assert goal_id in listed


async def test_signed_requests_pass_and_unsigned_ones_are_refused(stack: Stack) -> None:
    store = open_key_store(stack.settings.resolved_api_keys_url)
    key = store.create("acme", Role.OPERATOR, require_signature=True).key
    store.close()
    base = str(stack.client.base_url)
    async with AsyncOmniHubClient(base, key, sign=True) as signed:
        accepted = await signed.submit("book it", plan=plan())
        assert (await signed.get(accepted.goal_id)).goal_id == accepted.goal_id
        assert (await signed.list_goals(status="completed", limit=5)).items is not None
    async with AsyncOmniHubClient(base, key) as unsigned:
        with pytest.raises(ApiError) as refused:
            await unsigned.get(accepted.goal_id)
    assert (refused.value.status, refused.value.code) == (401, "invalid_signature")


async def test_every_event_the_goals_produced_matches_the_cdm_schema(stack: Stack) -> None:
    async with _client(stack) as client:
        done = await client.submit("book it", plan=plan())
        held = await client.submit("book it", plan=plan(guarded=True))
        rejected = await client.submit("book it", plan=plan(guarded=True))
        bad_table = {"table": "not_allowed", "values": {"sku": "x"}}
        failing = await client.submit(
            "book it",
            plan={"steps": [{"id": "s1", "tool": "database_write", "args": bad_table}]},
        )
        await client.wait(done.goal_id, timeout=30)
        for goal_id, act in ((held.goal_id, "cancel"), (rejected.goal_id, "reject")):
            await stack.wait_status(goal_id, "awaiting_approval")
            if act == "cancel":
                await client.pause(goal_id)
                await stack.wait_status(goal_id, "paused")
                await client.resume(goal_id)
                await client.cancel(goal_id)
            else:
                await client.reject(goal_id, "s2", reason="no")
            await client.wait(goal_id, timeout=30)
        assert (await client.wait(failing.goal_id, timeout=30)).status == "failed"
    validator = Draft202012Validator(SCHEMA)
    types: set[str] = set()
    for goal_id in (done.goal_id, held.goal_id, rejected.goal_id, failing.goal_id):
        raw = await stack.client.get(f"/v1/goals/{goal_id}/events", headers=stack.auth("viewer"))
        for event in raw.json():
            errors = [e.message for e in validator.iter_errors(event)]
            assert not errors, (event["event_type"], errors[:3])
            types.add(event["event_type"])
    assert {"GoalReceived", "PlanGenerated", "ToolExecuted", "ApprovalRequested"} <= types
    assert {"ApprovalRejected", "GoalCancelled", "GoalCompleted", "CompensationExecuted"} <= types
    assert {"GoalPaused", "GoalResumed", "StepFailed", "GoalFailed"} <= types
    # What the schema forbids is refused: a typo'd field, a wrong type.
    sample = raw.json()[0]
    assert not validator.is_valid({**sample, "evnet_type": "x"})
    assert not validator.is_valid({**sample, "stream_version": "1"})
    # The audit export's lines match their schema too.
    line_schema = {**SCHEMA, "oneOf": None, "$ref": "#/$defs/AuditExportLine"}
    del line_schema["oneOf"]
    line_validator = Draft202012Validator(line_schema)
    store = open_event_store(stack.settings.resolved_event_store_url)
    try:
        lines = list(export_jsonl(store, "acme"))
    finally:
        store.close()
    assert lines
    for line in lines:
        errors = [e.message for e in line_validator.iter_errors(json.loads(line))]
        assert not errors, errors[:3]
