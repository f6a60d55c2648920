from __future__ import annotations

import pydantic
import pytest

import omnihub.plans
from omnihub.errors import PlanValidationError, ValidationError
from omnihub.plans import (
    Plan,
    PlanStep,
    ancestors,
    find_cycle,
    iter_refs,
    parse_ref,
    ready_steps,
    resolve_refs,
    validate_plan,
)
from omnihub.tools import default_registry

REF = "$ref"


def _write(step_id: str, *deps: str) -> PlanStep:
    return PlanStep(
        id=step_id,
        tool="database_write",
        args={"table": "orders", "values": {"sku": step_id}},
        depends_on=list(deps),
    )


def test_public_names_are_pinned() -> None:
    assert omnihub.plans.__all__ == [
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


def test_a_valid_plan_with_a_reference_passes() -> None:
    plan = Plan(
        steps=[
            _write("s1"),
            PlanStep(
                id="s2",
                tool="database_delete",
                args={"table": "orders", "id": {REF: "steps.s1.output.record_id"}},
                depends_on=["s1"],
            ),
            PlanStep(id="s3", tool="respond_to_user", args={"message": "done"}, depends_on=["s2"]),
        ],
        reasoning="write, undo, answer",
    )
    validate_plan(plan, default_registry())
    assert ancestors(plan)["s3"] == {"s1", "s2"}


def test_every_problem_is_reported_at_once() -> None:
    plan = Plan(
        steps=[
            PlanStep(id="a", tool="no_such_tool"),
            PlanStep(id="b", tool="database_write", args={"values": {}}, depends_on=["ghost"]),
            PlanStep(id="b", tool="respond_to_user", args={"message": 3}),
        ]
    )
    with pytest.raises(PlanValidationError) as caught:
        validate_plan(plan, default_registry())
    problems = caught.value.problems
    assert isinstance(caught.value, ValidationError)
    assert any("unknown tool 'no_such_tool'" in p for p in problems)
    assert any("unknown step 'ghost'" in p for p in problems)
    assert any("used more than once" in p for p in problems)
    assert any("table: Field required" in p for p in problems)
    assert any("message: Input should be a valid string" in p for p in problems)


def test_a_cycle_is_found_and_reported() -> None:
    plan = Plan(steps=[_write("a", "c"), _write("b", "a"), _write("c", "b")])
    assert find_cycle(plan) == ["a", "c", "b", "a"]
    with pytest.raises(PlanValidationError, match="dependency cycle"):
        validate_plan(plan, default_registry())


def test_a_step_depending_on_itself_is_a_cycle() -> None:
    plan = Plan(steps=[_write("a", "a")])
    assert find_cycle(plan) == ["a", "a"]


def test_references_must_point_at_dependencies_and_real_fields() -> None:
    plan = Plan(
        steps=[
            _write("s1"),
            PlanStep(
                id="s2",
                tool="respond_to_user",
                args={"message": {REF: "steps.s1.output.record_id"}},
            ),
            PlanStep(
                id="s3",
                tool="respond_to_user",
                args={"message": {REF: "steps.s1.output.nope"}},
                depends_on=["s1"],
            ),
            PlanStep(id="s4", tool="respond_to_user", args={"message": {REF: "s1.record_id"}}),
            PlanStep(id="s5", tool="respond_to_user", args={"message": {REF: "steps.zz.output"}}),
        ]
    )
    with pytest.raises(PlanValidationError) as caught:
        validate_plan(plan, default_registry())
    text = "\n".join(caught.value.problems)
    assert "needs 's1' among its depends_on" in text
    assert "output has no field 'nope'" in text
    assert "bad reference 's1.record_id'" in text
    assert "unknown step 'zz'" in text


def test_resolve_refs_substitutes_nested_outputs() -> None:
    args = {"a": {REF: "steps.s1.output.x.y"}, "b": [{REF: "steps.s1.output"}, 2], "c": "keep"}
    outputs = {"s1": {"x": {"y": 7}}}
    assert resolve_refs(args, outputs) == {"a": 7, "b": [{"x": {"y": 7}}, 2], "c": "keep"}
    assert [path for path, _ in iter_refs(args)] == [("a",), ("b", 0)]


def test_resolve_refs_rejects_missing_outputs() -> None:
    with pytest.raises(ValidationError, match="has no output"):
        resolve_refs({REF: "steps.s9.output.x"}, {})
    with pytest.raises(ValidationError, match="no field 'x'"):
        resolve_refs({REF: "steps.s1.output.x"}, {"s1": {}})
    assert parse_ref("steps.s1.output") == ("s1", [])


def test_ready_steps_follow_dependencies() -> None:
    plan = Plan(steps=[_write("a"), _write("b", "a"), _write("c"), _write("d", "b", "c")])
    assert ready_steps(plan, done=set(), started=set()) == ["a", "c"]
    assert ready_steps(plan, done={"a"}, started={"a", "c"}) == ["b"]
    assert ready_steps(plan, done={"a", "b", "c"}, started={"a", "b", "c"}) == ["d"]
    assert plan.step("d").depends_on == ["b", "c"]
    with pytest.raises(KeyError):
        plan.step("zz")


def test_plans_round_trip_through_json() -> None:
    plan = Plan(steps=[_write("a"), _write("b", "a")], reasoning="r")
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


def test_no_plan_can_name_a_saga_hold() -> None:
    # The pattern keeps ':' out of every step id a planner or client writes ...
    with pytest.raises(pydantic.ValidationError):
        PlanStep(id="hold:budget", tool="respond_to_user")
    # ... and validation refuses the namespace even in a plan built without that check.
    step = PlanStep.model_construct(id="hold:budget", tool="respond_to_user", args={})
    plan = Plan.model_construct(steps=[step], reasoning="")
    with pytest.raises(PlanValidationError, match="reserved for the saga's own holds"):
        validate_plan(plan, default_registry())
    assert omnihub.plans.is_reserved_step_id("hold:budget")
    assert not omnihub.plans.is_reserved_step_id("budget")
