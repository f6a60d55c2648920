from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import omnihub.guard
from omnihub.cli import app
from omnihub.errors import ConcurrencyError, PolicyValidationError
from omnihub.events import NewEvent, PolicySetApplied, open_event_store, verify_store
from omnihub.guard import (
    Guard,
    Origin,
    PlanOrigin,
    PolicyEngine,
    PolicySet,
    PolicyStore,
    Principal,
    ToolFacts,
    call_context,
    default_policy_text,
)
from omnihub.guard._cases import load_cases, run_cases
from omnihub.plans import Plan, PlanStep
from omnihub.redteam import redteam_registry, run_redteam

HERE = Path(__file__).parent
ALICE = Principal(id="alice", tenant="acme")
EMAIL = ToolFacts("send_email", "yellow", True)


def test_guard_public_names() -> None:
    assert set(omnihub.guard.__all__) >= {"PolicyEngine", "PolicyStore", "Guard", "Decision"}


def test_red_lane_tool_needs_approval_and_names_the_policy() -> None:
    wire = ToolFacts("wire_transfer", "red", True)
    args = {"payee": "a@example.com", "amount": 5, "currency": "EUR"}
    decision = PolicyEngine().evaluate_call(
        ALICE, wire, call_context(wire, args, tenant="acme", phase="step")
    )
    assert decision.outcome == "approval"
    assert decision.policy_ids == ("red-lane-needs-approval",)
    assert decision.version == 0


def test_unpermitted_side_effect_tool_is_forbidden_fail_closed() -> None:
    shell = ToolFacts("shell_exec", "yellow", True)
    decision = PolicyEngine().evaluate_call(
        ALICE, shell, call_context(shell, {}, tenant="acme", phase="plan")
    )
    assert decision.outcome == "forbid"
    assert "fail closed" in decision.reason


def test_recipient_from_a_fetched_page_is_forbidden_at_step_time() -> None:
    plan = Plan(
        steps=[
            PlanStep(
                id="r1", tool="http_request", args={"url": "https://n.example/", "method": "GET"}
            ),
            PlanStep(
                id="s2",
                tool="send_email",
                args={"to": {"$ref": "steps.r1.output.body"}, "subject": "x", "body": "y"},
                depends_on=["r1"],
            ),
        ]
    )
    guard = Guard(redteam_registry())
    origin = PlanOrigin(goal="Read https://n.example/ and tell me")
    check = guard.check_step(ALICE, plan, origin, "s2", {"to": ["leak@evil.example"]})
    assert check.decision.outcome == "forbid"
    assert "untrusted-values-never-reach-sinks" in check.decision.policy_ids
    assert check.provenance is not None
    assert Origin.OUTSIDE in check.provenance.args["to"].origins
    approved = guard.check_step(
        ALICE, plan, origin, "s2", {"to": ["leak@evil.example"]}, approved_steps=["s2"]
    )
    assert approved.decision.outcome == "permit"


def test_forbidden_step_gives_the_planner_a_repair_message() -> None:
    plan = Plan(steps=[PlanStep(id="s1", tool="shell_exec", args={"text": "ls"})])
    checked = Guard(redteam_registry()).check_plan(ALICE, plan, PlanOrigin(goal="list files"))
    assert [c.step_id for c in checked.forbidden] == ["s1"]
    assert "'s1' (shell_exec)" in checked.repair_message()
    assert checked.forbidden[0].event("plan").outcome == "forbid"


def test_policy_set_rejected_by_the_schema_lists_the_problem() -> None:
    bad = (
        'permit (principal, action == OmniHub::Action::"call", resource) '
        'when { resource.colour == "red" };'
    )
    with pytest.raises(PolicyValidationError) as caught:
        PolicySet.parse(bad)
    assert "colour" in str(caught.value)


def test_applied_policy_set_is_versioned_chained_and_read_without_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_event_store(url) as store:
        writer, reader = PolicyStore(store), PolicyStore(store)
        assert reader.current("acme").version == 0
        strict = default_policy_text().replace('OmniHub::Tool::"send_email",\n', "")
        writer.apply("acme", strict, applied_by="ops", reason="no e-mail")
        current = reader.current("acme")
        assert current.version == 1
        args = {"to": ["a@example.com"], "subject": "s", "body": "b"}
        decision = reader.engine("acme").evaluate_call(
            ALICE, EMAIL, call_context(EMAIL, args, tenant="acme", phase="step")
        )
        assert (decision.outcome, decision.version) == ("forbid", 1)
        assert reader.current("other").version == 0
        with pytest.raises(PolicyValidationError):
            writer.apply("acme", "permit (principal, action, resource) when { x };", applied_by="o")
        history = reader.history("acme")
        assert [type(e) for e in history] == [PolicySetApplied]
        assert verify_store(store).ok


def test_concurrent_apply_cannot_both_win(tmp_path: Path) -> None:
    with open_event_store(f"sqlite:///{tmp_path / 'e.db'}") as store:
        policies = PolicyStore(store)
        version = store.stream_version("acme", "policy-set")
        policies.apply("acme", default_policy_text(), applied_by="a")
        stale = [NewEvent(payload=policies.history("acme")[0], idempotency_key="other")]
        with pytest.raises(ConcurrencyError):
            store.append("acme", "policy-set", stale, expected_version=version)


def test_policy_cases_file_runs_expected_decisions() -> None:
    results = run_cases(None, load_cases(HERE / "cases.yaml"))
    assert [r.name for r in results if not r.passed] == []
    assert len(results) == 5


def test_redteam_has_no_unauthorised_effect_and_no_false_block() -> None:
    report = run_redteam()
    assert report.attacks >= 60
    assert report.benign >= 60
    assert report.unauthorised_effects == 0
    assert report.false_blocks == 0
    assert report.blocked + report.held_for_approval == report.attacks
    channels = {o.channel for o in report.outcomes}
    assert channels == {"goal", "context", "web", "email", "db_row", "tool_error"}


def test_policy_cli_validate_test_and_redteam_json() -> None:
    runner = CliRunner()
    default = str(Path(omnihub.guard.__file__).parent / "policies" / "default.cedar")
    result = runner.invoke(app, ["policy", "validate", default, "--json"])
    assert result.exit_code == 0, result.output
    assert "read-only-tools" in json.loads(result.output)["policies"]
    result = runner.invoke(app, ["policy", "test", default, "--cases", str(HERE / "cases.yaml")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["redteam", "--json", "--decisions-only"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["unauthorised_effects"] == 0
